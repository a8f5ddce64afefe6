#include "model/sdxl_inpaint/multi_step.h"

#include <torch/torch.h>

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

// The VAE in the pipeline dtype, or in float32 for an fp16 pipeline when its config sets force_upcast (diffusers
// then runs it upcast); load() rounds the weights through fp16 afterwards.
std::unique_ptr<AutoencoderKL> make_vae(const std::filesystem::path& config_file, const at::TensorOptions& options,
                                        bool* upcast) {
  const VaeConfig config = VaeConfig::from_file(config_file);
  *upcast = options.dtype() == at::kHalf && config.force_upcast;
  return std::make_unique<AutoencoderKL>(config, *upcast ? options.dtype(at::kFloat) : options);
}

// Checks the image, the mask and the options against the VAE's grid; returns the latent shape [1,C,h/f,w/f].
std::vector<int64_t> checked_latent_shape(const at::Tensor& image, const at::Tensor& mask,
                                          const SdxlInpaintOptions& opt, const VaeConfig& vae) {
  const int64_t factor = int64_t{1} << (vae.block_out_channels.size() - 1);
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || mask.dim() != 4 || mask.size(0) != 1 ||
      mask.size(1) != 1 || mask.size(2) != image.size(2) || mask.size(3) != image.size(3))
    throw ModelError("sdxl-inpaint: expected image [1,3,h,w] and mask [1,1,h,w]");
  const int64_t h = image.size(2), w = image.size(3);
  if (h % factor != 0 || w % factor != 0)
    throw ModelError("sdxl-inpaint: height and width must be multiples of " + std::to_string(factor) + " (got " +
                     std::to_string(h) + "x" + std::to_string(w) + ")");
  if (opt.steps < 1) throw ModelError("sdxl-inpaint: steps must be at least 1");
  if (!(opt.strength >= 0.0 && opt.strength <= 1.0)) throw ModelError("sdxl-inpaint: strength must be in [0, 1]");
  return {1, vae.latent_channels, h / factor, w / factor};
}

// The recorded draws, or fresh ones from opt.seed in the pipeline's order (the image posterior's only when
// strength < 1); each checked against the latent shape.
SdxlInpaintNoise noise_draws(const SdxlInpaintOptions& opt, const std::vector<int64_t>& latent_shape,
                             bool strength_max) {
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
  return noise;
}

// What every UNet call of the loop takes besides the latents: prompt, pooled prompt, time ids and the
// [mask latent | masked-image latents] channels; under classifier-free guidance each a batch [negative, positive].
struct Conditioning {
  at::Tensor prompt, pooled, time_ids, latents;
  bool cfg = false;
};

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

  double scaling() const { return vae->config().scaling_factor; }

  // _encode_vae_image: a posterior sample, cast to the pipeline dtype, times the scaling factor.
  at::Tensor encode(const at::Tensor& pixels, const at::Tensor& eps, StageTimer& timer) const {
    timer.begin("vae_encode");
    const Posterior post = vae->encode(pixels.to(unet->options()).to(vae->options()));
    const at::Tensor z = post.sample(eps.to(post.mean.options())).to(unet->options()) * scaling();
    timer.end();
    return z;
  }

  // prepare_latents: pure noise at init_noise_sigma (strength 1), else the image latents noised to σ[t_start].
  at::Tensor initial_latents(const at::Tensor& x, const SdxlInpaintNoise& noise,
                             const EulerDiscreteScheduler& euler, int64_t t_start, bool strength_max,
                             StageTimer& timer, std::map<std::string, at::Tensor>& trace) const {
    if (strength_max) return noise.latents.to(unet->options()) * static_cast<double>(euler.init_noise_sigma());
    const at::Tensor image_latents = encode(x, noise.image_posterior, timer);
    trace["image_latents"] = image_latents;
    return euler.add_noise(image_latents, noise.latents.to(unet->options()), t_start);
  }

  Conditioning conditioning(const at::Tensor& mask_latent, const at::Tensor& masked_latents, int64_t h, int64_t w,
                            bool cfg) const {
    const auto options = unet->options();
    const at::Tensor time_ids =
        at::tensor(std::vector<float>{float(h), float(w), 0.f, 0.f, float(h), float(w)}).reshape({1, 6}).to(options);
    Conditioning c{prompt_embeds, pooled, time_ids, at::cat({mask_latent, masked_latents}, 1), cfg};
    if (cfg) {  // [negative, positive] in one batch; negatives are zeros (force_zeros_for_empty_prompt)
      c.prompt = at::cat({at::zeros_like(c.prompt), c.prompt});
      c.pooled = at::cat({at::zeros_like(c.pooled), c.pooled});
      c.time_ids = at::cat({time_ids, time_ids});
      c.latents = at::cat({c.latents, c.latents});
    }
    return c;
  }

  // The loop over timesteps[t_start:]: one UNet call per step (both guidance halves in one batch), then an
  // Euler step. Appends each timestep run to `timesteps`.
  at::Tensor denoise(const EulerDiscreteScheduler& euler, at::Tensor z, const Conditioning& c, int64_t t_start,
                     double guidance, StageTimer& timer, std::vector<float>& timesteps) const {
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(unet->options().device());
    for (int64_t i = t_start; i < euler.num_inference_steps(); ++i) {
      timer.begin("unet");
      const at::Tensor model_in = at::cat({euler.scale_model_input(c.cfg ? at::cat({z, z}) : z, i), c.latents}, 1);
      const at::Tensor t = at::scalar_tensor(euler.timesteps()[i], f32);
      at::Tensor eps = unet->forward(model_in, t, c.prompt, c.pooled, c.time_ids);
      if (c.cfg) {
        const auto halves = eps.chunk(2);
        eps = halves[0] + guidance * (halves[1] - halves[0]);
      }
      z = euler.step(eps, i, z).prev_sample;
      timer.end();
      timesteps.push_back(euler.timesteps()[i]);
    }
    return z;
  }

  at::Tensor decode(const at::Tensor& z, StageTimer& timer) const {
    timer.begin("vae_decode");
    const at::Tensor decoded = vae->decode(z.to(vae->options()) / scaling());
    const at::Tensor image = (decoded / 2.0 + 0.5).clamp(0.0, 1.0).to(at::kFloat).cpu();
    timer.end();
    return image;
  }
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
  const Impl& m = *impl_;
  const std::vector<int64_t> latent_shape = checked_latent_shape(image, mask, opt, m.vae->config());
  // A scheduler per call: run() is const and set_timesteps changes the schedule.
  EulerDiscreteScheduler scheduler(m.scheduler->config());
  scheduler.set_timesteps(opt.steps);
  const int64_t t_start = scheduler.start_index(opt.strength);
  if (scheduler.num_inference_steps() - t_start < 1)
    throw ModelError("sdxl-inpaint: strength " + std::to_string(opt.strength) + " with " + std::to_string(opt.steps) +
                     " steps leaves no denoising step");
  const bool strength_max = opt.strength == 1.0;
  const SdxlInpaintNoise noise = noise_draws(opt, latent_shape, strength_max);

  SdxlInpaintResult r;
  const auto options = m.unet->options();
  StageTimer timer(options.device());
  // Image and mask as the pipeline's processors leave them: [-1,1] image, binarised mask, float32.
  const at::Tensor x = image.to(at::kFloat).to(options.device()) * 2.0 - 1.0;
  const at::Tensor binary_mask = (mask.to(at::kFloat).to(options.device()) >= 0.5).to(at::kFloat);
  const at::Tensor masked_image = x * (binary_mask < 0.5);
  const at::Tensor z_init = m.initial_latents(x, noise, scheduler, t_start, strength_max, timer, r.trace);
  const at::Tensor masked_latents = m.encode(masked_image, noise.masked_image_posterior, timer);
  // F.interpolate(mask, size=(h/8, w/8)): PyTorch's legacy nearest, source pixel floor(i·8).
  const std::vector<int64_t> latent_hw{latent_shape[2], latent_shape[3]};
  const at::Tensor mask_latent = at::upsample_nearest2d(binary_mask, latent_hw).to(options);
  r.trace["z_init"] = z_init;
  r.trace["mask_latent"] = mask_latent;
  r.trace["masked_image_latents"] = masked_latents;

  const Conditioning c = m.conditioning(mask_latent, masked_latents, image.size(2), image.size(3), opt.guidance > 1.0);
  const at::Tensor z = m.denoise(scheduler, z_init, c, t_start, opt.guidance, timer, r.timesteps);
  r.trace["z_final"] = z;
  r.image = m.decode(z, timer);
  const StageTimes times = timer.finish();
  r.stages_ms = times.ms;
  r.stage_calls = times.calls;
  return r;
}

}  // namespace osor::model
