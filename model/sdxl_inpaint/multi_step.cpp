#include "model/sdxl_inpaint/multi_step.h"

#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/schedulers/euler_discrete.h"
#include "model/stage_timer.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model {
namespace {

std::filesystem::path manifest_path(const std::filesystem::path& dir, const char* id) {
  return dir / weights_file_info(id).relative_path;
}

// diffusers loads diffusion_pytorch_model.safetensors, or the .fp16 variant when that is all there is.
std::filesystem::path weights_or_fp16_variant(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) return path;
  std::filesystem::path fp16 = path;
  fp16.replace_extension(".fp16.safetensors");
  return std::filesystem::exists(fp16) ? fp16 : path;
}

// AutoencoderKL's force_upcast, which diffusers defaults to true when the config lacks it.
bool vae_force_upcast(const std::filesystem::path& config) {
  std::ifstream in(config);
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    return !j.contains("force_upcast") || !j["force_upcast"].is_boolean() || j["force_upcast"].get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("VAE config " + config.string() + ": " + e.what());
  }
}

// The VAE in the pipeline dtype, or in float32 for an fp16 pipeline when its config sets force_upcast (diffusers
// then runs it upcast); load() rounds the weights through fp16 afterwards.
std::unique_ptr<AutoencoderKL> make_vae(const std::filesystem::path& config, const at::TensorOptions& options,
                                        bool* upcast) {
  *upcast = options.dtype() == at::kHalf && vae_force_upcast(config);
  return std::make_unique<AutoencoderKL>(VaeConfig::from_file(config), *upcast ? options.dtype(at::kFloat) : options);
}

}  // namespace

SdxlInpaintFiles SdxlInpaintFiles::under(const std::filesystem::path& weights_dir) {
  SdxlInpaintFiles f;
  f.unet_config = manifest_path(weights_dir, "sdxl-inpainting-unet-config");
  f.unet_weights = weights_or_fp16_variant(manifest_path(weights_dir, "sdxl-inpainting-unet"));
  f.vae_config = manifest_path(weights_dir, "sdxl-inpainting-vae-config");
  f.vae_weights = weights_or_fp16_variant(manifest_path(weights_dir, "sdxl-inpainting-vae"));
  f.scheduler_config = manifest_path(weights_dir, "sdxl-inpainting-scheduler");
  f.prompt_embeds = manifest_path(weights_dir, "osor-prompt-embeds");
  return f;
}

std::vector<std::filesystem::path> SdxlInpaintFiles::missing() const {
  std::vector<std::filesystem::path> out;
  for (const auto* p : {&unet_config, &unet_weights, &vae_config, &vae_weights, &scheduler_config, &prompt_embeds})
    if (!std::filesystem::is_regular_file(*p)) out.push_back(*p);
  return out;
}

SdxlInpaintFiles SdxlInpaintFiles::locate(const std::filesystem::path& weights_dir,
                                          const std::filesystem::path& prompt_embeds_override) {
  SdxlInpaintFiles f = under(weights_dir);
  if (!prompt_embeds_override.empty()) f.prompt_embeds = prompt_embeds_override;
  const auto absent = f.missing();
  if (absent.empty()) return f;
  std::string names;
  for (const auto& p : absent) names += (names.empty() ? "" : ", ") + p.string();
  throw ModelError("sdxl-inpaint: missing weights file(s) " + names +
                   "; get sdxl-inpainting/{unet,vae,scheduler}/ from huggingface.co/diffusers/"
                   "stable-diffusion-xl-1.0-inpainting-0.1 and the prompt cache osor-sdxl/prompt_embeds.safetensors by "
                   "converting the OSOR release with scripts/convert_osor_sdxl.py, or pass prompt=FILE "
                   "(see README, OSOR-SDXL model)");
}

struct SdxlInpaint::Impl {
  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<EulerDiscreteScheduler> scheduler;
  at::Tensor prompt_embeds, pooled;
};

SdxlInpaint::SdxlInpaint(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
                         std::unique_ptr<EulerDiscreteScheduler> scheduler, at::Tensor prompt_embeds,
                         at::Tensor pooled_prompt_embeds)
    : impl_(std::make_unique<Impl>()) {
  const int64_t latent = vae->config().latent_channels;
  if (unet->config().in_channels != 2 * latent + 1)
    throw ModelError("sdxl-inpaint: the UNet has " + std::to_string(unet->config().in_channels) +
                     " input channels, expected " + std::to_string(2 * latent + 1) +
                     " (latent | mask | masked-image latent: is this the inpainting UNet?)");
  if (prompt_embeds.dim() != 3 || pooled_prompt_embeds.dim() != 2 || prompt_embeds.size(0) != 1 ||
      pooled_prompt_embeds.size(0) != 1)
    throw ModelError("sdxl-inpaint: expected prompt_embeds [1,L,D] and pooled_prompt_embeds [1,P]");
  impl_->unet = std::move(unet);
  impl_->vae = std::move(vae);
  impl_->scheduler = std::move(scheduler);
  const auto options = impl_->unet->options();
  impl_->prompt_embeds = prompt_embeds.to(options);
  impl_->pooled = pooled_prompt_embeds.to(options);
}

SdxlInpaint::~SdxlInpaint() = default;
SdxlInpaint::SdxlInpaint(SdxlInpaint&&) noexcept = default;
SdxlInpaint& SdxlInpaint::operator=(SdxlInpaint&&) noexcept = default;

UNet2DConditionModel& SdxlInpaint::unet() { return *impl_->unet; }
AutoencoderKL& SdxlInpaint::vae() { return *impl_->vae; }

SdxlInpaint SdxlInpaint::load(const SdxlInpaintFiles& files, const at::Device& device, at::ScalarType dtype) {
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  auto unet = std::make_unique<UNet2DConditionModel>(UNetConfig::from_file(files.unet_config), options);
  unet->load({files.unet_weights});
  bool upcast = false;
  auto vae = make_vae(files.vae_config, options, &upcast);
  vae->load({files.vae_weights});
  if (upcast) {  // diffusers upcasts the fp16 weights: their values are the fp16 ones
    at::NoGradGuard no_grad;
    for (auto& p : vae->module().parameters()) p.copy_(p.to(dtype).to(at::kFloat));
  }
  auto scheduler = std::make_unique<EulerDiscreteScheduler>(EulerDiscreteConfig::from_file(files.scheduler_config));
  const auto prompts = SafetensorsFile::open(files.prompt_embeds);
  for (const char* key : {"prompt_embeds", "pooled_prompt_embeds"})
    if (!prompts.contains(key))
      throw ModelError("prompt cache " + files.prompt_embeds.string() + ": tensor " + key + " is missing");
  return SdxlInpaint(std::move(unet), std::move(vae), std::move(scheduler), prompts.tensor("prompt_embeds"),
                     prompts.tensor("pooled_prompt_embeds"));
}

SdxlInpaint SdxlInpaint::random(const std::filesystem::path& config_dir, const at::Device& device,
                                 at::ScalarType dtype, uint64_t seed) {
  const SdxlInpaintFiles files = SdxlInpaintFiles::under(config_dir);
  std::string missing;
  for (const auto* p : {&files.unet_config, &files.vae_config, &files.scheduler_config})
    if (!std::filesystem::is_regular_file(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("sdxl-inpaint with random weights: missing config file(s) " + missing +
                     " (model/configs/full holds the SDXL-Inpainting configs)");
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  const UNetConfig unet_config = UNetConfig::from_file(files.unet_config);
  auto unet = std::make_unique<UNet2DConditionModel>(unet_config, options);
  unet->randomize(seed);
  bool upcast = false;
  auto vae = make_vae(files.vae_config, options, &upcast);
  vae->randomize(seed + 1);
  auto scheduler = std::make_unique<EulerDiscreteScheduler>(EulerDiscreteConfig::from_file(files.scheduler_config));
  // add_embedding takes the pooled embedding and the six time ids.
  const int64_t pooled_dim =
      unet_config.projection_class_embeddings_input_dim - 6 * unet_config.addition_time_embed_dim;
  if (pooled_dim <= 0)
    throw ModelError(files.unet_config.string() + ": projection_class_embeddings_input_dim leaves no pooled embedding");
  auto gen = at::detail::createCPUGenerator(seed + 2);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor prompt = at::randn({1, 77, unet_config.cross_attention_dim}, gen, f32);
  const at::Tensor pooled = at::randn({1, pooled_dim}, gen, f32);
  return SdxlInpaint(std::move(unet), std::move(vae), std::move(scheduler), prompt, pooled);
}

SdxlInpaintResult SdxlInpaint::run(const at::Tensor& image, const at::Tensor& mask,
                                   const SdxlInpaintOptions& opt) const {
  at::NoGradGuard no_grad;
  const auto& unet = *impl_->unet;
  const auto& vae = *impl_->vae;
  const auto options = unet.options();
  const auto vae_options = vae.options();
  const int64_t factor = int64_t{1} << (vae.config().block_out_channels.size() - 1);
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || mask.dim() != 4 || mask.size(0) != 1 ||
      mask.size(1) != 1 || mask.size(2) != image.size(2) || mask.size(3) != image.size(3))
    throw ModelError("sdxl-inpaint: expected image [1,3,h,w] and mask [1,1,h,w]");
  const int64_t h = image.size(2), w = image.size(3);
  if (h % factor != 0 || w % factor != 0)
    throw ModelError("sdxl-inpaint: height and width must be multiples of " + std::to_string(factor) + " (got " +
                     std::to_string(h) + "x" + std::to_string(w) + ")");
  if (opt.steps < 1) throw ModelError("sdxl-inpaint: steps must be at least 1");
  if (!(opt.strength >= 0.0 && opt.strength <= 1.0)) throw ModelError("sdxl-inpaint: strength must be in [0, 1]");

  // A scheduler per call: run() is const and set_timesteps changes the schedule.
  EulerDiscreteScheduler scheduler(impl_->scheduler->config());
  scheduler.set_timesteps(opt.steps);
  const int64_t t_start = scheduler.start_index(opt.strength);
  const int64_t n = scheduler.num_inference_steps();
  if (n - t_start < 1)
    throw ModelError("sdxl-inpaint: strength " + std::to_string(opt.strength) + " with " + std::to_string(opt.steps) +
                     " steps leaves no denoising step");
  const bool strength_max = opt.strength == 1.0;
  const bool cfg = opt.guidance > 1.0;
  const double sf = vae.config().scaling_factor;

  const std::vector<int64_t> latent_shape{1, vae.config().latent_channels, h / factor, w / factor};
  SdxlInpaintNoise noise;
  if (opt.noise) {
    noise = *opt.noise;
  } else {
    auto gen = at::detail::createCPUGenerator(opt.seed);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    if (!strength_max) noise.image_posterior = at::randn(latent_shape, gen, f32);
    noise.latents = at::randn(latent_shape, gen, f32);
    noise.masked_image_posterior = at::randn(latent_shape, gen, f32);
  }
  for (const auto* t : {&noise.latents, &noise.masked_image_posterior, strength_max ? nullptr : &noise.image_posterior})
    if (t && (!t->defined() || !t->sizes().equals(latent_shape)))
      throw ModelError("sdxl-inpaint: the recorded noise tensors must have the latent shape [1," +
                       std::to_string(latent_shape[1]) + "," + std::to_string(latent_shape[2]) + "," +
                       std::to_string(latent_shape[3]) + "]");

  SdxlInpaintResult r;
  StageTimer timer(options.device());
  // Image and mask as the pipeline's processors leave them: [-1,1] image, binarised mask, float32.
  const at::Tensor x = image.to(at::kFloat).to(options.device()) * 2.0 - 1.0;
  const at::Tensor m = (mask.to(at::kFloat).to(options.device()) >= 0.5).to(at::kFloat);
  const at::Tensor masked_image = x * (m < 0.5);
  // _encode_vae_image: a posterior sample, cast to the pipeline dtype, times the scaling factor.
  auto encode = [&](const at::Tensor& pixels, const at::Tensor& eps) {
    timer.begin("vae_encode");
    const Posterior post = vae.encode(pixels.to(options).to(vae_options));
    const at::Tensor z = post.sample(eps.to(post.mean.options())).to(options) * sf;
    timer.end();
    return z;
  };

  at::Tensor z;
  if (strength_max) {
    z = noise.latents.to(options) * static_cast<double>(scheduler.init_noise_sigma());
  } else {
    const at::Tensor image_latents = encode(x, noise.image_posterior);
    r.trace["image_latents"] = image_latents;
    z = scheduler.add_noise(image_latents, noise.latents.to(options), t_start);
  }
  const at::Tensor masked_latents = encode(masked_image, noise.masked_image_posterior);
  // F.interpolate(mask, size=(h/8, w/8)): PyTorch's legacy nearest, source pixel floor(i·8).
  const std::vector<int64_t> latent_hw{h / factor, w / factor};
  const at::Tensor mask_latent = at::upsample_nearest2d(m, latent_hw).to(options);
  r.trace["z_init"] = z;
  r.trace["mask_latent"] = mask_latent;
  r.trace["masked_image_latents"] = masked_latents;

  const at::Tensor time_ids =
      at::tensor(std::vector<float>{float(h), float(w), 0.f, 0.f, float(h), float(w)}).reshape({1, 6}).to(options);
  at::Tensor prompt = impl_->prompt_embeds, pooled = impl_->pooled, ids = time_ids;
  at::Tensor cond = at::cat({mask_latent, masked_latents}, 1);
  if (cfg) {  // [negative, positive] in one batch; negatives are zeros (force_zeros_for_empty_prompt)
    prompt = at::cat({at::zeros_like(prompt), prompt});
    pooled = at::cat({at::zeros_like(pooled), pooled});
    ids = at::cat({time_ids, time_ids});
    cond = at::cat({cond, cond});
  }
  for (int64_t i = t_start; i < n; ++i) {
    timer.begin("unet");
    const at::Tensor model_in = at::cat({scheduler.scale_model_input(cfg ? at::cat({z, z}) : z, i), cond}, 1);
    const at::Tensor t =
        at::scalar_tensor(scheduler.timesteps()[i], at::TensorOptions().dtype(at::kFloat).device(options.device()));
    at::Tensor eps = unet.forward(model_in, t, prompt, pooled, ids);
    if (cfg) {
      const auto halves = eps.chunk(2);
      eps = halves[0] + opt.guidance * (halves[1] - halves[0]);
    }
    z = scheduler.step(eps, i, z).prev_sample;
    timer.end();
    r.timesteps.push_back(scheduler.timesteps()[i]);
  }
  r.trace["z_final"] = z;

  timer.begin("vae_decode");
  const at::Tensor decoded = vae.decode(z.to(vae_options) / sf);
  r.image = (decoded / 2.0 + 0.5).clamp(0.0, 1.0).to(at::kFloat).cpu();
  timer.end();
  const StageTimes times = timer.finish();
  r.stages_ms = times.ms;
  r.stage_calls = times.calls;
  return r;
}

}  // namespace osor::model
