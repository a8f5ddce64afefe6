#include "model/osor/osor_flux.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "model/error.h"
#include "model/flux/flux_lora.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/flux_fill/multi_step.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "model/io/sharded_weights.h"
#include "model/stage_timer.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model {

std::pair<int64_t, int64_t> flux_processing_size(int64_t height, int64_t width, int64_t max_long_side) {
  if (height <= 0 || width <= 0) throw ModelError("flux_processing_size: empty image");
  int64_t h = height, w = width;
  const int64_t long_side = std::max(height, width);
  if (long_side > max_long_side) {
    // Python: scale = max_length / float(long); int(side * scale), at least 1.
    const double scale = static_cast<double>(max_long_side) / static_cast<double>(long_side);
    h = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(height) * scale));
    w = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(width) * scale));
  }
  return {std::max<int64_t>(16, h / 16 * 16), std::max<int64_t>(16, w / 16 * 16)};
}

OsorFluxFiles OsorFluxFiles::locate(const std::filesystem::path& weights_dir,
                                    const std::filesystem::path& prompt_embeds_override,
                                    const std::filesystem::path& checkpoint) {
  auto at_id = [&](const char* id) { return weights_dir / weights_file_info(id).relative_path; };
  std::string missing;
  const FluxFillBackboneFiles backbone = FluxFillBackboneFiles::locate(weights_dir, missing);
  OsorFluxFiles f;
  f.transformer_config = backbone.transformer_config;
  f.transformer_weights = backbone.transformer_weights;
  f.vae_config = backbone.vae_config;
  f.vae_weights = backbone.vae_weights;
  f.osor_checkpoint = checkpoint.empty() ? at_id("osor-flux-state-dict") : checkpoint;
  f.prompt_embeds = prompt_embeds_override.empty() ? at_id("osor-flux-prompt-embeds") : prompt_embeds_override;
  for (const auto* p : {&f.osor_checkpoint, &f.prompt_embeds})
    if (!std::filesystem::is_regular_file(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("osor-flux: missing weights file(s) " + missing +
                     "; get flux-fill/{transformer,vae}/ from huggingface.co/black-forest-labs/FLUX.1-Fill-dev "
                     "(gated) and osor-flux/ by converting the OSOR-FLUX release's state_dict.pth and prompt cache "
                     "with `osor weights convert` (see docs/models.md, OSOR-FLUX)");
  return f;
}

namespace {

using Trace = std::map<std::string, at::Tensor>;

// What one run hands between its stages.
struct FluxStageInputs {
  int64_t h = 0, w = 0, lh = 0, lw = 0, factor = 8;  // pixel and latent grid sizes, VAE scale factor
  at::Tensor posterior_noise, flow_noise;             // CPU draws
};

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

struct OsorFlux::Impl {
  std::unique_ptr<FluxTransformer2DModel> transformer;
  std::unique_ptr<AutoencoderKL> vae;
  at::Tensor prompt_embeds, pooled;

  double scaling() const { return vae->config().scaling_factor; }
  double shift() const { return vae->config().shift_factor.value_or(0.0); }

  // Checks the shapes; the given draws, else drawn from the seed in the official order (posterior, then flow).
  FluxStageInputs inputs(const at::Tensor& image, const at::Tensor& mask, const OsorFluxOptions& o) const {
    FluxStageInputs in;
    const auto& vc = vae->config();
    in.factor = int64_t{1} << (vc.block_out_channels.size() - 1);
    if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || mask.dim() != 4 || mask.size(0) != 1 ||
        mask.size(1) != 1 || mask.size(2) != image.size(2) || mask.size(3) != image.size(3) ||
        image.size(2) % (2 * in.factor) != 0 || image.size(3) % (2 * in.factor) != 0)
      throw ModelError("osor-flux: expected image [1,3,h,w] and mask [1,1,h,w] with h, w multiples of " +
                       std::to_string(2 * in.factor) + " (got " + shape_text(image.sizes()) + " and " +
                       shape_text(mask.sizes()) + ")");
    in.h = image.size(2);
    in.w = image.size(3);
    in.lh = in.h / in.factor;
    in.lw = in.w / in.factor;
    const std::vector<int64_t> posterior_shape = {1, vc.latent_channels, in.lh, in.lw};
    const std::vector<int64_t> flow_shape = {1, (in.lh / 2) * (in.lw / 2), 4 * vc.latent_channels};
    if (o.noise) {
      in.posterior_noise = o.noise->posterior;
      in.flow_noise = o.noise->flow;
    } else {
      auto gen = at::detail::createCPUGenerator(o.seed);
      const auto f32 = at::TensorOptions().dtype(at::kFloat);
      in.posterior_noise = at::randn(posterior_shape, gen, f32);
      in.flow_noise = at::randn(flow_shape, gen, f32);
    }
    if (!in.posterior_noise.defined() || !in.posterior_noise.sizes().equals(posterior_shape) ||
        !in.flow_noise.defined() || !in.flow_noise.sizes().equals(flow_shape))
      throw ModelError("osor-flux: the noise tensors must be posterior " + shape_text(posterior_shape) + " and flow " +
                       shape_text(flow_shape) + " for this image");
    return in;
  }

  // The transformer's inputs besides the image tokens.
  FluxTransformerInputs conditioning(const FluxStageInputs& in, const OsorFluxOptions& o) const {
    const auto options = transformer->options();
    const double sigma = static_cast<double>(o.model_t) / 1000.0;
    FluxTransformerInputs t;
    t.encoder_hidden_states = prompt_embeds;
    t.pooled_projections = pooled;
    // The official code builds σ in the weight dtype and guidance in float32 (the model rounds both to its dtype).
    t.timestep = at::full({1}, sigma, o.exact_time ? options.dtype(at::kFloat) : options);
    t.guidance = at::full({1}, o.guidance, options.dtype(at::kFloat));
    t.time_in_float32 = o.exact_time;
    t.img_ids = flux::latent_image_ids(in.lh / 2, in.lw / 2, options);
    t.txt_ids = flux::text_ids(prompt_embeds.size(1), options);
    return t;
  }

  // VAE posterior sample of 2·image − 1, shifted and scaled: z_shot [1, C, lh, lw].
  at::Tensor encode(const at::Tensor& image, const FluxStageInputs& in, Trace& trace) const {
    const at::Tensor shot = (image.to(at::kFloat) * 2.0 - 1.0).to(vae->options());
    const Posterior posterior = vae->encode(shot);
    trace["vae_encode_input"] = shot;
    trace["posterior_mean"] = posterior.mean;
    trace["posterior_std"] = posterior.std;
    return (posterior.sample(in.posterior_noise.to(vae->options())) - shift()) * scaling();
  }

  // z_t = (1 − σ)·pack(z_shot) + σ·flow (σ a double, as the script's Python float), then one transformer call on
  // [z_t | pack(z_shot) | packed mask]. Returns {z_t, output}.
  std::pair<at::Tensor, at::Tensor> denoise(const at::Tensor& z_shot, const at::Tensor& mask, const FluxStageInputs& in,
                                            const OsorFluxOptions& o, FluxTransformerInputs& t, Trace& trace) const {
    const auto options = transformer->options();
    const double sigma = static_cast<double>(o.model_t) / 1000.0;
    const at::Tensor packed_shot = flux::pack_latents(z_shot.to(options));
    const at::Tensor z_t = (1.0 - sigma) * packed_shot + sigma * in.flow_noise.to(options);
    t.hidden_states = at::cat({z_t, packed_shot, flux::pack_fill_mask(mask.to(options), in.factor)}, 2);
    const at::Tensor out = transformer->forward(t);
    trace["hidden_states"] = t.hidden_states;
    trace["timestep"] = t.timestep;
    trace["guidance"] = t.guidance;
    trace["encoder_hidden_states"] = t.encoder_hidden_states;
    trace["pooled_projections"] = t.pooled_projections;
    trace["txt_ids"] = t.txt_ids;
    trace["img_ids"] = t.img_ids;
    return {z_t, out};
  }

  // x0 = z_t − t·v (t the timestep tensor the model saw: bf16 0.400390625 in bf16), α from the alpha head (or the
  // latent mask), the blend in unscaled VAE space, decoded. Returns {image in [0,1] float32, α float32}.
  std::pair<at::Tensor, at::Tensor> decode(const at::Tensor& z_t, const at::Tensor& out, const at::Tensor& z_shot,
                                           const at::Tensor& mask, const FluxStageInputs& in,
                                           const FluxTransformerInputs& t, Trace& trace) const {
    const auto options = transformer->options();
    const int64_t v_features = z_t.size(2);
    const at::Tensor v_pred = out.narrow(2, 0, v_features);
    trace["v_pred"] = v_pred;
    const at::ScalarType t_dtype = t.timestep.scalar_type();
    const at::Tensor x0 = (z_t.to(t_dtype) - t.timestep * v_pred.to(t_dtype)).to(options);
    const at::Tensor pred = flux::unpack_latents(x0, in.lh, in.lw) / scaling() + shift();
    const at::Tensor shot_unscaled = z_shot.to(options) / scaling() + shift();
    at::Tensor alpha;
    if (out.size(2) > v_features) {
      const at::Tensor logits = out.narrow(2, v_features, out.size(2) - v_features);
      trace["alpha_logits"] = logits;
      alpha = at::sigmoid(flux::unpack_latents(logits, in.lh, in.lw));
    } else {  // Phase I: hard blending keeps the unmasked latent exactly
      alpha = at::max_pool2d(mask.to(options), {in.factor, in.factor}, {in.factor, in.factor});
    }
    const at::Tensor composite = pred * alpha + shot_unscaled * (1.0 - alpha);
    const at::Tensor decoded = vae->decode(composite.to(vae->options()));
    trace["vae_decode_input"] = composite;
    trace["vae_decode_output"] = decoded;
    return {at::clamp((decoded.to(at::kFloat) + 1.0) / 2.0, 0.0, 1.0), alpha.to(at::kFloat)};
  }

  OsorFluxResult run(const at::Tensor& image, const at::Tensor& mask, const OsorFluxOptions& o) const {
    const FluxStageInputs in = inputs(image, mask, o);
    OsorFluxResult r;
    StageTimer timer(transformer->options().device());
    timer.begin("vae_encode");
    const at::Tensor z_shot = encode(image, in, r.trace);
    timer.end();
    timer.begin("transformer");
    FluxTransformerInputs t = conditioning(in, o);
    const auto [z_t, out] = denoise(z_shot, mask, in, o, t, r.trace);
    timer.end();
    timer.begin("vae_decode");
    const auto [x, alpha] = decode(z_t, out, z_shot, mask, in, t, r.trace);
    timer.end();
    const StageTimes times = timer.finish();
    r.stages_ms = times.ms;
    r.stage_calls = times.calls;
    r.image = x.cpu();
    r.alpha = alpha.cpu();
    r.alpha_image = at::upsample_bilinear2d(r.alpha, {in.h, in.w}, /*align_corners=*/false);
    r.trace["x"] = r.image;
    r.trace["alpha"] = r.alpha;
    r.trace["alpha_vis"] = r.alpha_image;
    return r;
  }
};

OsorFlux::OsorFlux(std::unique_ptr<FluxTransformer2DModel> transformer, std::unique_ptr<AutoencoderKL> vae,
                   at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds)
    : impl_(std::make_unique<Impl>()) {
  const FluxTransformerConfig& c = transformer->config();
  if (prompt_embeds.dim() != 3 || prompt_embeds.size(0) != 1 || prompt_embeds.size(2) != c.joint_attention_dim ||
      pooled_prompt_embeds.dim() != 2 || pooled_prompt_embeds.size(0) != 1 ||
      pooled_prompt_embeds.size(1) != c.pooled_projection_dim)
    throw ModelError("osor-flux: prompt embeddings " + shape_text(prompt_embeds.sizes()) + " and pooled " +
                     shape_text(pooled_prompt_embeds.sizes()) + " do not fit the transformer (expected [1,T," +
                     std::to_string(c.joint_attention_dim) + "] and [1," + std::to_string(c.pooled_projection_dim) +
                     "])");
  if (c.in_channels != 2 * 4 * vae->config().latent_channels + 4 * 64)
    throw ModelError("osor-flux: the transformer takes " + std::to_string(c.in_channels) +
                     " input features; OSOR's Fill conditioning needs 2·4·" +
                     std::to_string(vae->config().latent_channels) + " + 256 (is this a FLUX.1-Fill transformer?)");
  const auto options = transformer->options();
  impl_->prompt_embeds = prompt_embeds.to(options);
  impl_->pooled = pooled_prompt_embeds.to(options);
  impl_->transformer = std::move(transformer);
  impl_->vae = std::move(vae);
}

OsorFlux::~OsorFlux() = default;
OsorFlux::OsorFlux(OsorFlux&&) noexcept = default;
OsorFlux& OsorFlux::operator=(OsorFlux&&) noexcept = default;

FluxTransformer2DModel& OsorFlux::transformer() { return *impl_->transformer; }
AutoencoderKL& OsorFlux::vae() { return *impl_->vae; }
bool OsorFlux::has_alpha_head() const {
  return impl_->transformer->output_features() > impl_->transformer->config().out_channels;
}

OsorFlux OsorFlux::load(const OsorFluxFiles& files, const at::Device& device, at::ScalarType dtype,
                        const LoraOptions& lora) {
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  auto transformer =
      std::make_unique<FluxTransformer2DModel>(FluxTransformerConfig::from_file(files.transformer_config), options);
  transformer->load(files.transformer_weights);
  apply_osor_checkpoint(*transformer, SafetensorsFile::open(files.osor_checkpoint), lora);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(files.vae_config), options);
  vae->load({files.vae_weights});
  const PromptCache prompt = read_prompt_cache(files.prompt_embeds);
  return OsorFlux(std::move(transformer), std::move(vae), prompt.prompt_embeds, prompt.pooled_prompt_embeds);
}

OsorFlux OsorFlux::random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                          uint64_t seed) {
  const auto base = config_dir / "flux-fill";
  const auto transformer_config = base / "transformer" / "config.json", vae_config = base / "vae" / "config.json";
  std::string missing;
  for (const auto* p : {&transformer_config, &vae_config})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("osor-flux with random weights: missing config file(s) " + missing +
                     " (model/configs/full holds the FLUX.1-Fill configs)");
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  const FluxTransformerConfig config = FluxTransformerConfig::from_file(transformer_config);
  auto transformer = std::make_unique<FluxTransformer2DModel>(config, options);
  transformer->randomize(seed);
  widen_proj_out(*transformer, transformer->output_features() + 4, seed + 1);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(vae_config), options);
  vae->randomize(seed + 2);
  auto gen = at::detail::createCPUGenerator(seed + 3);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  // 512 T5 tokens, as OSOR's cache (max_sequence_length=512).
  at::Tensor prompt = at::randn({1, 512, config.joint_attention_dim}, gen, cpu);
  at::Tensor pooled = at::randn({1, config.pooled_projection_dim}, gen, cpu);
  return OsorFlux(std::move(transformer), std::move(vae), prompt, pooled);
}

OsorFluxResult OsorFlux::run(const at::Tensor& image, const at::Tensor& mask, const OsorFluxOptions& options) const {
  at::NoGradGuard no_grad;
  return impl_->run(image, mask, options);
}

}  // namespace osor::model
