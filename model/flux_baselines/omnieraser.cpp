#include "model/flux_baselines/omnieraser.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include "model/error.h"
#include "model/flux/flux_lora_names.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "model/stage_timer.h"
#include "model/weights_manifest.h"

namespace osor::model {

OmniEraserFiles OmniEraserFiles::locate(const std::filesystem::path& weights_dir,
                                        const std::filesystem::path& prompt_embeds_override) {
  std::string missing;
  OmniEraserFiles f;
  f.backbone = FluxDevFiles::locate(weights_dir, missing);
  f.lora = weights_dir / weights_file_info("omnieraser-lora").relative_path;
  f.prompt_embeds = prompt_embeds_override.empty()
                        ? weights_dir / weights_file_info("omnieraser-prompt-embeds").relative_path
                        : prompt_embeds_override;
  for (const auto* p : {&f.lora, &f.prompt_embeds})
    if (!std::filesystem::is_regular_file(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("omnieraser: missing weights file(s) " + missing +
                     "; get flux-dev/{transformer,vae,scheduler}/ from huggingface.co/black-forest-labs/FLUX.1-dev "
                     "(gated), omnieraser/pytorch_lora_weights.safetensors from huggingface.co/theSure/Omnieraser, "
                     "and encode the prompt once with scripts/encode_flux_prompt.py --prompt \"There is nothing "
                     "here.\" (see docs/models.md, OmniEraser)");
  return f;
}

at::Tensor omnieraser_control_latents(const FluxDevBackbone& backbone, const at::Tensor& image, const at::Tensor& mask,
                                      const at::Tensor& eps_foreground, const at::Tensor& eps_masked) {
  const at::Tensor x = image.to(at::kFloat) * 2.0 - 1.0;
  const at::Tensor m = flux::binarize_mask(mask.to(at::kFloat));
  // masked_image[mask > 0.5] = -1; foreground[mask < 0.5] = -1 (m is 0/1).
  const at::Tensor masked = x * (1.0 - m) - m, foreground = x * m - (1.0 - m);
  const at::Tensor z_fg = backbone.encode(foreground, eps_foreground);
  const at::Tensor z_masked = backbone.encode(masked, eps_masked);
  const int64_t s = backbone.vae_scale_factor();
  // F.interpolate(size=(h/8, w/8)), mode "nearest": source index floor(i·8) — pixel (8i, 8j).
  const at::Tensor m_lat = (1.0 - m.slice(2, 0, m.size(2), s).slice(3, 0, m.size(3), s)).to(z_fg.options());
  const at::Tensor control = at::cat({z_masked, z_fg, m_lat.expand({-1, z_fg.size(1), -1, -1})}, 1);
  return flux::pack_latents(control.contiguous());
}

OmniEraser::OmniEraser(FluxDevBackbone backbone, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds)
    : backbone_(std::move(backbone)) {
  const FluxTransformerConfig& c = backbone_.transformer().config();
  const int64_t latent_features = 4 * backbone_.latent_channels();
  if (c.in_channels != 4 * latent_features)
    throw ModelError("omnieraser: the transformer takes " + std::to_string(c.in_channels) + " input features, "
                     "OmniEraser's widened x_embedder " + std::to_string(4 * latent_features));
  if (prompt_embeds.dim() != 3 || prompt_embeds.size(0) != 1 || prompt_embeds.size(2) != c.joint_attention_dim ||
      pooled_prompt_embeds.dim() != 2 || pooled_prompt_embeds.size(0) != 1 ||
      pooled_prompt_embeds.size(1) != c.pooled_projection_dim)
    throw ModelError("omnieraser: prompt embeddings do not fit the transformer (expected [1,T," +
                     std::to_string(c.joint_attention_dim) + "] and [1," + std::to_string(c.pooled_projection_dim) +
                     "])");
  prompt_embeds_ = prompt_embeds.to(backbone_.transformer().options());
  pooled_ = pooled_prompt_embeds.to(backbone_.transformer().options());
}

OmniEraser OmniEraser::load(const OmniEraserFiles& files, const at::Device& device, at::ScalarType dtype) {
  FluxDevBackbone backbone = FluxDevBackbone::load(files.backbone, device, dtype);
  backbone.transformer().widen_x_embedder(4 * backbone.transformer().config().in_channels);
  apply_flux_lora(backbone.transformer(), SafetensorsFile::open(files.lora));
  const PromptCache prompt = read_prompt_cache(files.prompt_embeds);
  return OmniEraser(std::move(backbone), prompt.prompt_embeds, prompt.pooled_prompt_embeds);
}

OmniEraser OmniEraser::random(const std::filesystem::path& config_dir, const at::Device& device,
                              at::ScalarType dtype, uint64_t seed) {
  FluxDevBackbone backbone = FluxDevBackbone::random(config_dir, device, dtype, seed, "omnieraser");
  FluxTransformer2DModel& t = backbone.transformer();
  t.widen_x_embedder(4 * t.config().in_channels);
  t.randomize(seed);  // the widened columns random too, as a merged LoRA leaves them
  auto gen = at::detail::createCPUGenerator(seed + 2);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor prompt = at::randn({1, 512, t.config().joint_attention_dim}, gen, cpu);
  const at::Tensor pooled = at::randn({1, t.config().pooled_projection_dim}, gen, cpu);
  return OmniEraser(std::move(backbone), prompt, pooled);
}

FluxDevResult OmniEraser::run(const at::Tensor& image, const at::Tensor& mask, const OmniEraserOptions& o) const {
  at::NoGradGuard no_grad;
  const int64_t s = backbone_.vae_scale_factor();
  check_processing_size(image, 3, 2 * s, "omnieraser");
  check_processing_size(mask, 1, 2 * s, "omnieraser");
  if (mask.size(2) != image.size(2) || mask.size(3) != image.size(3))
    throw ModelError("omnieraser: image and mask sizes differ");
  if (o.steps < 1) throw ModelError("omnieraser: steps must be at least 1");
  const int64_t lh = image.size(2) / s, lw = image.size(3) / s;
  const std::vector<int64_t> shape = {1, backbone_.latent_channels(), lh, lw};
  OmniEraserNoise noise;
  if (o.noise) {
    noise = *o.noise;
  } else {
    auto gen = at::detail::createCPUGenerator(o.seed);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    noise.foreground_posterior = at::randn(shape, gen, f32);
    noise.masked_image_posterior = at::randn(shape, gen, f32);
    noise.latents = at::randn(shape, gen, f32);
  }
  for (const at::Tensor* t : {&noise.foreground_posterior, &noise.masked_image_posterior, &noise.latents})
    if (!t->defined() || !t->sizes().equals(shape))
      throw ModelError("omnieraser: the noise tensors (foreground_posterior, masked_image_posterior, latents) must be "
                       "[1," + std::to_string(shape[1]) + "," + std::to_string(lh) + "," + std::to_string(lw) + "]");
  const auto options = backbone_.transformer().options();
  FluxDevResult r;
  StageTimer timer(options.device());
  timer.begin("vae_encode");
  const at::Tensor control =
      omnieraser_control_latents(backbone_, image, mask, noise.foreground_posterior, noise.masked_image_posterior);
  timer.end();
  FluxTransformerInputs in;
  in.encoder_hidden_states = prompt_embeds_;
  in.pooled_projections = pooled_;
  in.img_ids = flux::latent_image_ids(lh / 2, lw / 2, options);
  in.txt_ids = flux::text_ids(prompt_embeds_.size(1), options);
  if (backbone_.transformer().config().guidance_embeds)
    in.guidance = at::full({1}, o.guidance, options.dtype(at::kFloat));
  const at::Tensor z = backbone_.denoise(flux::pack_latents(noise.latents.to(options)), o.steps, timer, r.timesteps,
                                         [&](const at::Tensor& zt, const at::Tensor& timestep) {
                                           in.hidden_states = at::cat({zt, control}, 2);
                                           in.timestep = timestep;
                                           return backbone_.transformer().forward(in);
                                         });
  timer.begin("vae_decode");
  r.image = backbone_.decode(z, lh, lw);
  timer.end();
  const StageTimes times = timer.finish();
  r.stages_ms = times.ms;
  r.stage_calls = times.calls;
  return r;
}

}  // namespace osor::model
