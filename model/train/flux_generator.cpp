#include "model/train/flux_generator.h"

#include <ATen/ATen.h>

#include <utility>

#include "model/error.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/train/batch_inputs.h"
#include "model/train/reconstruction_loss.h"
#include "model/vae/autoencoder_kl.h"

namespace osor::model::train {
namespace {

constexpr int64_t kVaeScale = 8;  // FLUX's VAE: four levels, 2³

double sigma_of(int64_t t) { return static_cast<double>(t) / 1000.0; }

}  // namespace

std::vector<std::string> flux_lora_targets() {
  return {"attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "ff.net.0.proj", "ff.net.2", "proj_mlp",
          "single_transformer_blocks.*.proj_out"};
}

FluxGenerator::FluxGenerator(std::unique_ptr<FluxTransformer2DModel> transformer_, std::unique_ptr<AutoencoderKL> vae_,
                             at::Tensor prompt, at::Tensor pooled, double guidance_)
    : transformer(std::move(transformer_)), vae(std::move(vae_)), prompt_embeds(std::move(prompt)),
      pooled_prompt_embeds(std::move(pooled)), guidance(guidance_) {
  if (!transformer || !vae) throw ModelError("FluxGenerator: the transformer and the VAE are required");
  const FluxTransformerConfig& c = transformer->config();
  if (prompt_embeds.dim() != 3 || prompt_embeds.size(0) != 1 || prompt_embeds.size(2) != c.joint_attention_dim ||
      pooled_prompt_embeds.dim() != 2 || pooled_prompt_embeds.size(0) != 1 ||
      pooled_prompt_embeds.size(1) != c.pooled_projection_dim)
    throw ModelError("FluxGenerator: the prompt cache " + c10::str(prompt_embeds.sizes()) + " and pooled " +
                     c10::str(pooled_prompt_embeds.sizes()) + " do not fit the transformer (expected [1,T," +
                     std::to_string(c.joint_attention_dim) + "] and [1," + std::to_string(c.pooled_projection_dim) + "])");
  const int64_t channels = vae->config().latent_channels;
  if (c.in_channels != 2 * 4 * channels + 4 * kVaeScale * kVaeScale)
    throw ModelError("FluxGenerator: the transformer takes " + std::to_string(c.in_channels) +
                     " input features; OSOR's Fill conditioning needs 2·4·" + std::to_string(channels) +
                     " + 256 (is this a FLUX.1-Fill transformer?)");
  if (vae->config().block_out_channels.size() != 4)
    throw ModelError("FluxGenerator: the VAE must downsample by 8 (four blocks)");
}

FluxGenerator::~FluxGenerator() = default;
FluxGenerator::FluxGenerator(FluxGenerator&&) noexcept = default;
FluxGenerator& FluxGenerator::operator=(FluxGenerator&&) noexcept = default;

bool FluxGenerator::has_alpha_head() const {
  return transformer->output_features() > transformer->config().out_channels;
}
int64_t FluxGenerator::latent_channels() const { return vae->config().latent_channels; }
std::string FluxGenerator::terminal_layer_shape() const {
  return "proj_out of " + std::to_string(transformer->output_features()) + " features";
}

void FluxGenerator::set_gradient_checkpointing(bool enabled) { transformer->set_gradient_checkpointing(enabled); }

BatchLatents FluxGenerator::prepare(const at::Tensor& shot, const at::Tensor& mask, const at::Tensor& posterior_noise,
                                    const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask) const {
  if (shot.dim() != 4 || shot.size(2) % (2 * kVaeScale) || shot.size(3) % (2 * kVaeScale))
    throw ModelError("FluxGenerator: images must be [B,3,H,W] with H, W multiples of 16, got " + c10::str(shot.sizes()));
  const double sigma = sigma_of(t);
  const double scaling = vae->config().scaling_factor, shift = vae->config().shift_factor.value_or(0.0);
  const int64_t batch = shot.size(0), lh = shot.size(2) / kVaeScale, lw = shot.size(3) / kVaeScale;
  BatchLatents b;
  const Posterior posterior = vae->encode(shot);
  b.posterior_mean = posterior.mean;
  b.posterior_std = posterior.std;
  b.z_shot = (posterior.sample(posterior_noise.to(posterior.mean.options())) - shift) * scaling;
  const at::Tensor packed_shot = flux::pack_latents(b.z_shot);
  b.noise = eps_noise.to(b.z_shot.options()).reshape({batch, (lh / 2) * (lw / 2), 4 * latent_channels()});
  b.z_t = (1.0 - sigma) * packed_shot + sigma * b.noise;
  b.mask_latent = latent_mask(mask.to(b.z_shot.options()));
  if (gt_mask.defined()) b.gt_mask_latent = latent_mask(gt_mask.to(b.z_shot.options()));
  b.z_in = at::cat({b.z_t, packed_shot, flux::pack_fill_mask(mask.to(b.z_shot.options()), kVaeScale)}, 2);
  b.img_ids = flux::latent_image_ids(lh / 2, lw / 2, b.z_shot.options());
  return b;
}

GeneratorOutput FluxGenerator::forward(const BatchLatents& b, int64_t t) const {
  const int64_t batch = b.z_in.size(0), lh = b.z_shot.size(2), lw = b.z_shot.size(3);
  const auto options = transformer->options().device(b.z_in.device());
  FluxTransformerInputs in;
  in.hidden_states = b.z_in.to(options.dtype());
  in.encoder_hidden_states = prompt_embeds.to(options).expand({batch, -1, -1});
  in.pooled_projections = pooled_prompt_embeds.to(options).expand({batch, -1});
  // The official code builds σ in the weight dtype, guidance in float32; the model rounds both to its dtype.
  in.timestep = at::full({batch}, sigma_of(t), options);
  in.guidance = at::full({batch}, guidance, options.dtype(at::kFloat));
  in.img_ids = b.img_ids.to(options);
  in.txt_ids = flux::text_ids(prompt_embeds.size(1), options);
  const at::Tensor out = transformer->forward(in);
  const int64_t v_features = b.z_t.size(2);
  GeneratorOutput g;
  g.prediction = out.narrow(2, 0, v_features);
  // x0 = z_t − t·v with t the timestep tensor the model saw ([B,1,1], the model dtype).
  const at::Tensor x0 = b.z_t.to(options.dtype()) - in.timestep.view({-1, 1, 1}) * g.prediction;
  g.x0 = flux::unpack_latents(x0, lh, lw).to(b.z_shot.scalar_type());
  const double scaling = vae->config().scaling_factor, shift = vae->config().shift_factor.value_or(0.0);
  const at::Tensor pred = g.x0 / scaling + shift, shot = b.z_shot / scaling + shift;
  at::Tensor alpha = b.mask_latent;
  if (has_alpha_head()) {
    g.mask_logits = flux::unpack_latents(out.narrow(2, v_features, out.size(2) - v_features), lh, lw).to(b.z_shot.scalar_type());
    alpha = at::sigmoid(g.mask_logits);
  }
  g.decoder_input = pred * alpha + shot * (1 - alpha);
  g.x = vae->decode(g.decoder_input.to(vae->options().dtype())).to(b.z_shot.scalar_type());
  return g;
}

}  // namespace osor::model::train
