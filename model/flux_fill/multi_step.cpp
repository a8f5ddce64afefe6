#include "model/flux_fill/multi_step.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include "model/error.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/io/prompt_cache.h"
#include "model/io/sharded_weights.h"
#include "model/schedulers/flow_match_euler.h"
#include "model/stage_timer.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// What the denoising loop takes besides the latents.
struct FillConditioning {
  FluxTransformerInputs inputs;   // prompt, pooled, ids, guidance (hidden_states and timestep set per step)
  at::Tensor masked_image_latents;  // [1, L, 64 + 256]
};

}  // namespace

FluxFillBackboneFiles FluxFillBackboneFiles::locate(const std::filesystem::path& weights_dir, std::string& missing,
                                                    const std::string& family) {
  auto at_id = [&](const std::string& suffix) { return weights_dir / weights_file_info(family + suffix).relative_path; };
  const auto note_missing = [&](const std::string& what) { missing += (missing.empty() ? "" : ", ") + what; };
  FluxFillBackboneFiles f;
  f.transformer_config = at_id("-transformer-config");
  f.vae_config = at_id("-vae-config");
  f.vae_weights = at_id("-vae");
  for (const auto* p : {&f.transformer_config, &f.vae_config, &f.vae_weights})
    if (!std::filesystem::is_regular_file(*p)) note_missing(p->string());
  try {
    f.transformer_weights = diffusers_weight_files(f.transformer_config.parent_path());
  } catch (const ModelError&) {
    note_missing(at_id("-transformer").string() + " (or a single " +
                 (f.transformer_config.parent_path() / "diffusion_pytorch_model.safetensors").string() + ")");
  }
  return f;
}

FluxFillFiles FluxFillFiles::locate(const std::filesystem::path& weights_dir,
                                    const std::filesystem::path& prompt_embeds_override) {
  auto at_id = [&](const char* id) { return weights_dir / weights_file_info(id).relative_path; };
  std::string missing;
  const FluxFillBackboneFiles backbone = FluxFillBackboneFiles::locate(weights_dir, missing);
  FluxFillFiles f;
  f.transformer_config = backbone.transformer_config;
  f.transformer_weights = backbone.transformer_weights;
  f.vae_config = backbone.vae_config;
  f.vae_weights = backbone.vae_weights;
  f.scheduler_config = at_id("flux-fill-scheduler");
  f.prompt_embeds = prompt_embeds_override.empty() ? at_id("osor-flux-prompt-embeds") : prompt_embeds_override;
  for (const auto* p : {&f.scheduler_config, &f.prompt_embeds})
    if (!std::filesystem::is_regular_file(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("flux-fill: missing weights file(s) " + missing +
                     "; get flux-fill/{transformer,vae,scheduler}/ from huggingface.co/black-forest-labs/"
                     "FLUX.1-Fill-dev (gated) and the prompt cache osor-flux/prompt_embeds.safetensors by converting "
                     "OSOR-FLUX's cached prompt, or pass prompt=FILE (see docs/models.md, FLUX-Fill)");
  return f;
}

struct FluxFill::Impl {
  std::unique_ptr<FluxTransformer2DModel> transformer;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<FlowMatchEulerScheduler> scheduler;
  at::Tensor prompt_embeds, pooled;

  double scaling() const { return vae->config().scaling_factor; }
  double shift() const { return vae->config().shift_factor.value_or(0.0); }
  int64_t factor() const { return int64_t{1} << (vae->config().block_out_channels.size() - 1); }

  // The recorded draws, or fresh ones from the seed in the pipeline's order; checked against the latent shape.
  FluxFillNoise draws(const FluxFillOptions& o, const std::vector<int64_t>& shape) const {
    FluxFillNoise noise;
    if (o.noise) {
      noise = *o.noise;
    } else {
      auto gen = at::detail::createCPUGenerator(o.seed);
      const auto f32 = at::TensorOptions().dtype(at::kFloat);
      noise.latents = at::randn(shape, gen, f32);
      noise.masked_image_posterior = at::randn(shape, gen, f32);
    }
    for (const at::Tensor* t : {&noise.latents, &noise.masked_image_posterior})
      if (!t->defined() || !t->sizes().equals(shape))
        throw ModelError("flux-fill: the noise tensors (latents, masked_image_posterior) must be " + shape_text(shape));
    return noise;
  }

  // prepare_mask_latents: the masked image's posterior sample, shifted and scaled, packed, then the packed mask.
  FillConditioning conditioning(const at::Tensor& image, const at::Tensor& mask, const at::Tensor& eps,
                                double guidance, int64_t lh, int64_t lw) const {
    const auto options = transformer->options();
    const at::Tensor x = image.to(at::kFloat) * 2.0 - 1.0;
    const at::Tensor m = flux::binarize_mask(mask.to(at::kFloat));
    const at::Tensor masked = (x * (1.0 - m)).to(vae->options());
    const Posterior posterior = vae->encode(masked);
    const at::Tensor z = ((posterior.sample(eps.to(vae->options())) - shift()) * scaling()).to(options);
    FillConditioning c;
    c.masked_image_latents = flux::fill_masked_image_latents(z, m.to(options), factor());
    c.inputs.encoder_hidden_states = prompt_embeds;
    c.inputs.pooled_projections = pooled;
    c.inputs.img_ids = flux::latent_image_ids(lh / 2, lw / 2, options);
    c.inputs.txt_ids = flux::text_ids(prompt_embeds.size(1), options);
    if (transformer->config().guidance_embeds)
      c.inputs.guidance = at::full({1}, guidance, options.dtype(at::kFloat));
    return c;
  }

  // The loop: one transformer call per step on [latents | masked-image latents | mask], then an Euler step.
  at::Tensor denoise(at::Tensor z, FillConditioning& c, StageTimer& timer, std::vector<float>& timesteps) const {
    const auto options = transformer->options();
    for (int64_t i = 0; i < scheduler->num_inference_steps(); ++i) {
      timer.begin("transformer");
      const float t = scheduler->timesteps()[i];
      // t.expand(B).to(latents.dtype), then / 1000 in that dtype.
      c.inputs.timestep = at::full({1}, t, options.dtype(at::kFloat)).to(options.dtype().toScalarType()) / 1000;
      c.inputs.hidden_states = at::cat({z, c.masked_image_latents}, 2);
      const at::Tensor v = transformer->forward(c.inputs);
      z = scheduler->step(v, i, z);
      timer.end();
      timesteps.push_back(t);
    }
    return z;
  }

  at::Tensor decode(const at::Tensor& z, int64_t lh, int64_t lw) const {
    const at::Tensor latents = flux::unpack_latents(z, lh, lw) / scaling() + shift();
    const at::Tensor decoded = vae->decode(latents.to(vae->options()));
    return (decoded / 2.0 + 0.5).clamp(0.0, 1.0).to(at::kFloat).cpu();
  }
};

FluxFill::FluxFill(std::unique_ptr<FluxTransformer2DModel> transformer, std::unique_ptr<AutoencoderKL> vae,
                   std::unique_ptr<FlowMatchEulerScheduler> scheduler, at::Tensor prompt_embeds,
                   at::Tensor pooled_prompt_embeds)
    : impl_(std::make_unique<Impl>()) {
  const FluxTransformerConfig& c = transformer->config();
  const int64_t latent = vae->config().latent_channels;
  const int64_t s = int64_t{1} << (vae->config().block_out_channels.size() - 1);
  if (c.in_channels != 2 * 4 * latent + 4 * s * s)
    throw ModelError("flux-fill: the transformer takes " + std::to_string(c.in_channels) + " input features, the Fill "
                     "conditioning needs " + std::to_string(2 * 4 * latent + 4 * s * s) +
                     " (packed latents, masked-image latents, mask: is this the FLUX.1-Fill transformer?)");
  if (prompt_embeds.dim() != 3 || prompt_embeds.size(0) != 1 || prompt_embeds.size(2) != c.joint_attention_dim ||
      pooled_prompt_embeds.dim() != 2 || pooled_prompt_embeds.size(0) != 1 ||
      pooled_prompt_embeds.size(1) != c.pooled_projection_dim)
    throw ModelError("flux-fill: prompt embeddings " + shape_text(prompt_embeds.sizes()) + " and pooled " +
                     shape_text(pooled_prompt_embeds.sizes()) + " do not fit the transformer (expected [1,T," +
                     std::to_string(c.joint_attention_dim) + "] and [1," + std::to_string(c.pooled_projection_dim) +
                     "])");
  const auto options = transformer->options();
  impl_->prompt_embeds = prompt_embeds.to(options);
  impl_->pooled = pooled_prompt_embeds.to(options);
  impl_->transformer = std::move(transformer);
  impl_->vae = std::move(vae);
  impl_->scheduler = std::move(scheduler);
}

FluxFill::~FluxFill() = default;
FluxFill::FluxFill(FluxFill&&) noexcept = default;
FluxFill& FluxFill::operator=(FluxFill&&) noexcept = default;

FluxTransformer2DModel& FluxFill::transformer() { return *impl_->transformer; }
AutoencoderKL& FluxFill::vae() { return *impl_->vae; }

FluxFill FluxFill::load(const FluxFillFiles& files, const at::Device& device, at::ScalarType dtype) {
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  auto transformer =
      std::make_unique<FluxTransformer2DModel>(FluxTransformerConfig::from_file(files.transformer_config), options);
  transformer->load(files.transformer_weights);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(files.vae_config), options);
  vae->load({files.vae_weights});
  auto scheduler = std::make_unique<FlowMatchEulerScheduler>(FlowMatchEulerConfig::from_file(files.scheduler_config));
  const PromptCache prompt = read_prompt_cache(files.prompt_embeds);
  return FluxFill(std::move(transformer), std::move(vae), std::move(scheduler), prompt.prompt_embeds,
                  prompt.pooled_prompt_embeds);
}

FluxFill FluxFill::random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                          uint64_t seed) {
  const auto base = config_dir / "flux-fill";
  const auto transformer_config = base / "transformer" / "config.json", vae_config = base / "vae" / "config.json";
  const auto scheduler_config = base / "scheduler" / "scheduler_config.json";
  std::string missing;
  for (const auto* p : {&transformer_config, &vae_config, &scheduler_config})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("flux-fill with random weights: missing config file(s) " + missing +
                     " (model/configs/full holds the FLUX.1-Fill configs)");
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  const FluxTransformerConfig config = FluxTransformerConfig::from_file(transformer_config);
  auto transformer = std::make_unique<FluxTransformer2DModel>(config, options);
  transformer->randomize(seed);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(vae_config), options);
  vae->randomize(seed + 1);
  auto scheduler = std::make_unique<FlowMatchEulerScheduler>(FlowMatchEulerConfig::from_file(scheduler_config));
  auto gen = at::detail::createCPUGenerator(seed + 2);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  at::Tensor prompt = at::randn({1, 512, config.joint_attention_dim}, gen, cpu);  // max_sequence_length 512
  at::Tensor pooled = at::randn({1, config.pooled_projection_dim}, gen, cpu);
  return FluxFill(std::move(transformer), std::move(vae), std::move(scheduler), prompt, pooled);
}

FluxFillResult FluxFill::run(const at::Tensor& image, const at::Tensor& mask, const FluxFillOptions& options) const {
  at::NoGradGuard no_grad;
  const Impl& m = *impl_;
  const int64_t s = m.factor();
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || mask.dim() != 4 || mask.size(0) != 1 ||
      mask.size(1) != 1 || mask.size(2) != image.size(2) || mask.size(3) != image.size(3) ||
      image.size(2) % (2 * s) != 0 || image.size(3) % (2 * s) != 0)
    throw ModelError("flux-fill: expected image [1,3,h,w] and mask [1,1,h,w] with h, w multiples of " +
                     std::to_string(2 * s) + " (got " + shape_text(image.sizes()) + " and " +
                     shape_text(mask.sizes()) + ")");
  if (options.steps < 1) throw ModelError("flux-fill: steps must be at least 1");
  const int64_t lh = image.size(2) / s, lw = image.size(3) / s;
  const FluxFillNoise noise = m.draws(options, {1, m.vae->config().latent_channels, lh, lw});
  FluxFillResult r;
  StageTimer timer(m.transformer->options().device());
  timer.begin("vae_encode");
  FillConditioning c = m.conditioning(image, mask, noise.masked_image_posterior, options.guidance, lh, lw);
  timer.end();
  r.trace["masked_image_latents"] = c.masked_image_latents;
  const at::Tensor z0 = flux::pack_latents(noise.latents.to(m.transformer->options()));
  r.trace["latents_init"] = z0;
  m.scheduler->set_timesteps(options.steps, z0.size(1));
  const at::Tensor z = m.denoise(z0, c, timer, r.timesteps);
  r.trace["latents_final"] = z;
  timer.begin("vae_decode");
  r.image = m.decode(z, lh, lw);
  timer.end();
  const StageTimes times = timer.finish();
  r.stages_ms = times.ms;
  r.stage_calls = times.calls;
  return r;
}

}  // namespace osor::model
