#include "model/osor/one_step.h"

#include <ATen/CPUGeneratorImpl.h>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/schedule.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/stage_timer.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model {
namespace {

int64_t ceil16(int64_t v) { return (v + 15) / 16 * 16; }

}  // namespace

std::pair<int64_t, int64_t> processing_size(int64_t height, int64_t width, int64_t short_side) {
  if (height <= 0 || width <= 0) throw ModelError("processing_size: empty image");
  const int64_t s = std::min(height, width), l = std::max(height, width);
  if (s < short_side) return {ceil16(height), ceil16(width)};
  const int64_t long_side = static_cast<int64_t>(static_cast<double>(l) * short_side / s);
  return height <= width ? std::make_pair(ceil16(short_side), ceil16(long_side))
                         : std::make_pair(ceil16(long_side), ceil16(short_side));
}

OsorSdxlFiles OsorSdxlFiles::locate(const std::filesystem::path& weights_dir) {
  // The backbone's files are the SDXL-Inpainting baseline's (one layout, from model/weights_manifest).
  const SdxlInpaintFiles backbone = SdxlInpaintFiles::under(weights_dir);
  OsorSdxlFiles f;
  f.unet_config = backbone.unet_config;
  f.unet_weights = backbone.unet_weights;
  f.vae_config = backbone.vae_config;
  f.vae_weights = backbone.vae_weights;
  f.scheduler_config = backbone.scheduler_config;
  f.osor_checkpoint = weights_dir / weights_file_info("osor-state-dict").relative_path;
  f.prompt_embeds = backbone.prompt_embeds;
  std::string missing;
  for (const auto* p : {&f.unet_config, &f.unet_weights, &f.vae_config, &f.vae_weights, &f.scheduler_config,
                        &f.osor_checkpoint, &f.prompt_embeds})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("osor-sdxl: missing weights file(s) " + missing +
                     "; get sdxl-inpainting/{unet,vae,scheduler}/ from huggingface.co/diffusers/"
                     "stable-diffusion-xl-1.0-inpainting-0.1 and osor-sdxl/ by converting the OSOR release "
                     "(huggingface.co/QinmingZhou/OSOR) with scripts/convert_osor_sdxl.py (see README, OSOR-SDXL model)");
  return f;
}

struct OsorSdxl::Impl {
  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<DdpmSchedule> schedule;
  at::Tensor prompt_embeds, pooled;
};

OsorSdxl::OsorSdxl(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
                   std::unique_ptr<DdpmSchedule> schedule, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds)
    : impl_(std::make_unique<Impl>()) {
  impl_->unet = std::move(unet);
  impl_->vae = std::move(vae);
  impl_->schedule = std::move(schedule);
  impl_->prompt_embeds = std::move(prompt_embeds);
  impl_->pooled = std::move(pooled_prompt_embeds);
}

OsorSdxl::~OsorSdxl() = default;
OsorSdxl::OsorSdxl(OsorSdxl&&) noexcept = default;
OsorSdxl& OsorSdxl::operator=(OsorSdxl&&) noexcept = default;

UNet2DConditionModel& OsorSdxl::unet() { return *impl_->unet; }
AutoencoderKL& OsorSdxl::vae() { return *impl_->vae; }

OsorSdxl OsorSdxl::load(const OsorSdxlFiles& files, const at::Device& device, at::ScalarType dtype,
                        const LoraOptions& lora) {
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  // The LoRA merge happens in float32 on the loaded weights; build in float32 on the CPU when the target is a
  // narrower dtype would cost 2× memory, so the UNet is built directly in the target dtype and merged there.
  auto unet = std::make_unique<UNet2DConditionModel>(UNetConfig::from_file(files.unet_config), options);
  unet->load({files.unet_weights});
  apply_osor_checkpoint(*unet, SafetensorsFile::open(files.osor_checkpoint), lora);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(files.vae_config), options);
  vae->load({files.vae_weights});
  auto schedule = std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(files.scheduler_config));
  const auto prompts = SafetensorsFile::open(files.prompt_embeds);
  for (const char* key : {"prompt_embeds", "pooled_prompt_embeds"})
    if (!prompts.contains(key))
      throw ModelError("prompt cache " + files.prompt_embeds.string() + ": tensor " + key + " is missing");
  return OsorSdxl(std::move(unet), std::move(vae), std::move(schedule),
                  prompts.tensor("prompt_embeds").to(options), prompts.tensor("pooled_prompt_embeds").to(options));
}

OsorSdxl OsorSdxl::random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                          uint64_t seed) {
  const auto base = config_dir / "sdxl-inpainting";
  const auto unet_config = base / "unet" / "config.json", vae_config = base / "vae" / "config.json";
  const auto scheduler_config = base / "scheduler" / "scheduler_config.json";
  std::string missing;
  for (const auto* p : {&unet_config, &vae_config, &scheduler_config})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("osor-sdxl with random weights: missing config file(s) " + missing +
                     " (model/configs/full holds the SDXL-Inpainting configs)");
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  const UNetConfig unet_cfg = UNetConfig::from_file(unet_config);
  auto unet = std::make_unique<UNet2DConditionModel>(unet_cfg, options);
  unet->randomize(seed);
  widen_conv_out(*unet, 5, seed + 1);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(vae_config), options);
  vae->randomize(seed + 2);
  auto schedule = std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(scheduler_config));
  // The pooled embedding is what add_embedding takes besides the six time ids.
  const int64_t pooled_dim = unet_cfg.projection_class_embeddings_input_dim - 6 * unet_cfg.addition_time_embed_dim;
  if (pooled_dim <= 0) throw ModelError(unet_config.string() + ": projection_class_embeddings_input_dim leaves no pooled embedding");
  auto gen = at::detail::createCPUGenerator(seed + 3);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  at::Tensor prompt = at::randn({1, 77, unet_cfg.cross_attention_dim}, gen, cpu).to(options);
  at::Tensor pooled = at::randn({1, pooled_dim}, gen, cpu).to(options);
  return OsorSdxl(std::move(unet), std::move(vae), std::move(schedule), std::move(prompt), std::move(pooled));
}

bool OsorSdxl::has_alpha_head() const {
  return impl_->unet->conv_out_channels() > 4;
}

OneStepResult OsorSdxl::run(const at::Tensor& image, const at::Tensor& mask, const std::optional<OneStepNoise>& noise,
                            uint64_t seed, int64_t timestep) const {
  at::NoGradGuard no_grad;
  const auto& unet = *impl_->unet;
  const auto& vae = *impl_->vae;
  const auto options = unet.options();
  const int64_t h = image.size(2), w = image.size(3);
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || mask.dim() != 4 || mask.size(2) != h ||
      mask.size(3) != w || h % 8 != 0 || w % 8 != 0)
    throw ModelError("osor-sdxl: expected image [1,3,h,w] and mask [1,1,h,w] with h, w multiples of 8");
  const double scaling = vae.config().scaling_factor;
  OneStepResult r;
  auto& trace = r.trace;

  StageTimer timer(options.device());
  timer.begin("vae_encode");
  const at::Tensor lq = (image.to(options) * 2.0 - 1.0);
  trace["vae_encode_input"] = lq;
  const Posterior post = vae.encode(lq);
  at::Tensor posterior_noise, eps_noise;
  if (noise) {
    posterior_noise = noise->posterior.to(post.mean.options());
    eps_noise = noise->eps.to(post.mean.options());
  } else {
    auto gen = at::detail::createCPUGenerator(seed);
    const auto cpu_f32 = at::TensorOptions().dtype(at::kFloat);
    posterior_noise = at::randn(post.mean.sizes(), gen, cpu_f32).to(post.mean.options());
    eps_noise = at::randn(post.mean.sizes(), gen, cpu_f32).to(post.mean.options());
  }
  if (!posterior_noise.sizes().equals(post.mean.sizes()) || !eps_noise.sizes().equals(post.mean.sizes()))
    throw ModelError("osor-sdxl: the noise tensors must have the latent shape [1,4,h/8,w/8]");
  const at::Tensor z_lq = post.sample(posterior_noise) * scaling;
  timer.end();
  trace["posterior_mean"] = post.mean;
  trace["posterior_std"] = post.std;
  trace["z_lq"] = z_lq;

  timer.begin("unet");
  const at::Tensor mask_latent = at::max_pool2d(mask.to(options), {8, 8}, {8, 8});
  const at::Tensor z_t = impl_->schedule->add_noise(z_lq, eps_noise, timestep);
  const at::Tensor z_in = at::cat({z_t, mask_latent, z_lq}, 1);
  const at::Tensor time_ids = at::tensor(std::vector<float>{float(h), float(w), 0.f, 0.f, float(h), float(w)})
                                  .reshape({1, 6})
                                  .to(options);
  const at::Tensor t = at::full({1}, timestep, at::TensorOptions().dtype(at::kLong).device(options.device()));
  trace["noise"] = eps_noise;
  trace["z_t"] = z_t;
  trace["z_in"] = z_in;
  trace["time_ids"] = time_ids;
  const at::Tensor out = unet.forward(z_in, t, impl_->prompt_embeds, impl_->pooled, time_ids);
  timer.end();

  timer.begin("vae_decode");
  const at::Tensor eps = out.narrow(1, 0, 4);
  const at::Tensor x0 = impl_->schedule->predict_x0(eps, timestep, z_t);
  at::Tensor alpha;
  if (out.size(1) > 4) {
    trace["mask_logits"] = out.narrow(1, 4, 1);
    alpha = at::sigmoid(out.narrow(1, 4, 1).to(at::kFloat));
  } else {
    alpha = mask_latent.to(at::kFloat);  // Phase I: hard blending keeps the unmasked latent exactly
  }
  const at::Tensor z_lq32 = z_lq.to(at::kFloat);
  const at::Tensor z_out = x0 * alpha + z_lq32 * (1.0 - alpha);
  trace["eps"] = eps;
  trace["x0"] = x0;
  trace["z_out"] = z_out;
  trace["vae_decode_input"] = z_out / scaling;
  const at::Tensor decoded = vae.decode((z_out / scaling).to(options));
  trace["vae_decode_output"] = decoded;
  const at::Tensor image01 = at::clamp((decoded.to(at::kFloat) + 1.0) / 2.0, 0.0, 1.0);
  timer.end();
  r.image = image01.cpu();
  const StageTimes times = timer.finish();
  r.stages_ms = times.ms;
  r.stage_calls = times.calls;
  trace["x"] = r.image;
  r.alpha = alpha.cpu();
  r.alpha_image = at::upsample_bilinear2d(r.alpha, {h, w}, /*align_corners=*/false);
  trace["alpha"] = r.alpha;
  trace["alpha_vis"] = r.alpha_image;
  return r;
}

}  // namespace osor::model
