#include "model/train/sdxl_generator.h"

#include <ATen/ATen.h>

#include <utility>

#include "model/error.h"
#include "model/schedulers/ddpm.h"
#include "model/train/batch_inputs.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"

namespace osor::model::train {

SdxlGenerator::SdxlGenerator(std::unique_ptr<UNet2DConditionModel> unet_, std::unique_ptr<AutoencoderKL> vae_,
                             std::unique_ptr<DdpmSchedule> schedule_, at::Tensor prompt, at::Tensor pooled)
    : unet(std::move(unet_)), vae(std::move(vae_)), schedule(std::move(schedule_)), prompt_embeds(std::move(prompt)),
      pooled_prompt_embeds(std::move(pooled)) {
  if (!unet || !vae || !schedule) throw ModelError("SdxlGenerator: the UNet, the VAE and the schedule are required");
  if (prompt_embeds.dim() != 3 || pooled_prompt_embeds.dim() != 2)
    throw ModelError("SdxlGenerator: the prompt cache must hold prompt_embeds [1,T,D] and pooled_prompt_embeds [1,P], got " +
                     c10::str(prompt_embeds.sizes()) + " and " + c10::str(pooled_prompt_embeds.sizes()));
}

SdxlGenerator::~SdxlGenerator() = default;
SdxlGenerator::SdxlGenerator(SdxlGenerator&&) noexcept = default;
SdxlGenerator& SdxlGenerator::operator=(SdxlGenerator&&) noexcept = default;

bool SdxlGenerator::has_alpha_head() const { return unet->conv_out_channels() > 4; }
int64_t SdxlGenerator::latent_channels() const { return vae->config().latent_channels; }
std::string SdxlGenerator::terminal_layer_shape() const {
  return "conv_out of " + std::to_string(unet->conv_out_channels()) + " channels";
}

void SdxlGenerator::set_gradient_checkpointing(bool enabled) { unet->set_gradient_checkpointing(enabled); }

BatchLatents SdxlGenerator::prepare(const at::Tensor& shot, const at::Tensor& mask, const at::Tensor& posterior_noise,
                                    const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask) const {
  return prepare_batch_latents(*vae, *schedule, shot, mask, posterior_noise, eps_noise, t, gt_mask);
}

GeneratorOutput SdxlGenerator::forward(const BatchLatents& b, int64_t t) const {
  const int64_t batch = b.z_in.size(0);
  const auto device = b.z_in.device();
  const at::Tensor ctx = prompt_embeds.to(device).expand({batch, -1, -1});
  const at::Tensor pooled = pooled_prompt_embeds.to(device).expand({batch, -1});
  const at::Tensor timestep = at::full({batch}, t, at::TensorOptions().dtype(at::kLong).device(device));
  const at::Tensor out = unet->forward(b.z_in, timestep, ctx, pooled, b.time_ids).to(b.z_t.scalar_type());
  GeneratorOutput g;
  g.prediction = out.narrow(1, 0, 4);
  // scheduler.step: ᾱ_t as the float32 0-d table entry, the arithmetic in the sample's dtype (diffusers).
  if (schedule->config().prediction_type != "epsilon" || schedule->config().clip_sample)
    throw ModelError("SdxlGenerator: training supports the epsilon-prediction schedule without clipping (SDXL's)");
  const at::Tensor alpha = schedule->alphas_cumprod()[t];
  g.x0 = (b.z_t - at::pow(1.0 - alpha, 0.5) * g.prediction) / at::pow(alpha, 0.5);
  at::Tensor z;
  if (has_alpha_head()) {
    g.mask_logits = out.narrow(1, 4, out.size(1) - 4);
    const at::Tensor alpha = at::sigmoid(g.mask_logits);
    z = g.x0 * alpha + b.z_shot * (1 - alpha);
  } else {
    z = g.x0 * b.mask_latent + b.z_shot * (1 - b.mask_latent);
  }
  g.decoder_input = z / vae->config().scaling_factor;
  g.x = vae->decode(g.decoder_input).to(b.z_t.scalar_type());
  return g;
}

}  // namespace osor::model::train
