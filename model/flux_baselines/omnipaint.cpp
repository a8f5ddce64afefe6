#include "model/flux_baselines/omnipaint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include "model/error.h"
#include "model/flux/flux_lora_names.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "model/nn/layers.h"
#include "model/stage_timer.h"
#include "model/weights_manifest.h"

namespace osor::model {
namespace {

// OminiControl's LoRA target layers (its training config's target_modules), where OmniPaint's LoRA is expected.
bool ominicontrol_target(const std::string& path) {
  auto ends_with = [&](const char* s) {
    const std::string suffix(s);
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (path == "x_embedder") return true;
  const bool single = path.rfind("single_transformer_blocks.", 0) == 0, dbl = path.rfind("transformer_blocks.", 0) == 0;
  if (dbl)
    for (const char* s : {".norm1.linear", ".attn.to_q", ".attn.to_k", ".attn.to_v", ".attn.to_out.0", ".ff.net.2"})
      if (ends_with(s)) return true;
  if (single)
    for (const char* s : {".norm.linear", ".proj_mlp", ".proj_out", ".attn.to_q", ".attn.to_k", ".attn.to_v"})
      if (ends_with(s)) return true;
  return false;
}

void check_prompt(const FluxTransformerConfig& c, const at::Tensor& prompt, const at::Tensor& pooled) {
  if (prompt.dim() != 3 || prompt.size(0) != 1 || prompt.size(2) != c.joint_attention_dim || pooled.dim() != 2 ||
      pooled.size(0) != 1 || pooled.size(1) != c.pooled_projection_dim)
    throw ModelError("omnipaint: prompt embeddings do not fit the transformer (expected [1,T," +
                     std::to_string(c.joint_attention_dim) + "] and [1," + std::to_string(c.pooled_projection_dim) +
                     "])");
}

}  // namespace

OmniPaintFiles OmniPaintFiles::locate(const std::filesystem::path& weights_dir,
                                      const std::filesystem::path& prompt_embeds_override) {
  std::string missing;
  OmniPaintFiles f;
  f.backbone = FluxDevFiles::locate(weights_dir, missing);
  f.lora = weights_dir / weights_file_info("omnipaint-lora").relative_path;
  f.prompt_embeds = prompt_embeds_override.empty()
                        ? weights_dir / weights_file_info("omnipaint-prompt-embeds").relative_path
                        : prompt_embeds_override;
  for (const auto* p : {&f.lora, &f.prompt_embeds})
    if (!std::filesystem::is_regular_file(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("omnipaint: missing weights file(s) " + missing +
                     "; get flux-dev/{transformer,vae,scheduler}/ from huggingface.co/black-forest-labs/FLUX.1-dev "
                     "(gated) and omnipaint/{omnipaint_remove.safetensors, remove.npz} from huggingface.co/yeates/"
                     "OmniPaint (weights/, embeddings/) (see docs/models.md, OmniPaint)");
  return f;
}

OmniPaint::OmniPaint(FluxDevBackbone backbone, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds)
    : backbone_(std::move(backbone)) {
  const FluxTransformerConfig& c = backbone_.transformer().config();
  if (c.in_channels != 4 * backbone_.latent_channels())
    throw ModelError("omnipaint: the transformer takes " + std::to_string(c.in_channels) + " input features, "
                     "FLUX.1 [dev] " + std::to_string(4 * backbone_.latent_channels()) + " (is this FLUX.1-Fill?)");
  check_prompt(c, prompt_embeds, pooled_prompt_embeds);
  prompt_embeds_ = prompt_embeds.to(backbone_.transformer().options());
  pooled_ = pooled_prompt_embeds.to(backbone_.transformer().options());
}

OmniPaint OmniPaint::load(const OmniPaintFiles& files, const at::Device& device, at::ScalarType dtype) {
  FluxDevBackbone backbone = FluxDevBackbone::load(files.backbone, device, dtype);
  LoraOptions lora;
  lora.merge = false;  // the image tokens run without the adapters (FluxConditionTokens)
  apply_flux_lora(backbone.transformer(), SafetensorsFile::open(files.lora), lora);
  const PromptCache prompt = read_prompt_cache(files.prompt_embeds);
  return OmniPaint(std::move(backbone), prompt.prompt_embeds, prompt.pooled_prompt_embeds);
}

OmniPaint OmniPaint::random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                            uint64_t seed) {
  FluxDevBackbone backbone = FluxDevBackbone::random(config_dir, device, dtype, seed, "omnipaint");
  auto gen = at::detail::createCPUGenerator(seed + 2);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  constexpr int64_t kRank = 16;
  for (const auto& [path, linear] : nn::named_linears(backbone.transformer().module()))
    if (ominicontrol_target(path)) {
      const at::Tensor down = at::randn({kRank, linear->weight.size(1)}, gen, cpu) * 0.01;
      const at::Tensor up = at::randn({linear->weight.size(0), kRank}, gen, cpu) * 0.01;
      linear->attach_lora(nn::LoraAdapter{down, up, 1.0}, /*merge=*/false);
    }
  const FluxTransformerConfig& c = backbone.transformer().config();
  const at::Tensor prompt = at::randn({1, 512, c.joint_attention_dim}, gen, cpu);
  const at::Tensor pooled = at::randn({1, c.pooled_projection_dim}, gen, cpu);
  return OmniPaint(std::move(backbone), prompt, pooled);
}

FluxDevResult OmniPaint::run(const at::Tensor& condition, const OmniPaintOptions& o) const {
  at::NoGradGuard no_grad;
  const int64_t s = backbone_.vae_scale_factor();
  check_processing_size(condition, 3, 2 * s, "omnipaint");
  if (o.steps < 1) throw ModelError("omnipaint: steps must be at least 1");
  const int64_t lh = condition.size(2) / s, lw = condition.size(3) / s;
  const std::vector<int64_t> shape = {1, backbone_.latent_channels(), lh, lw};
  OmniPaintNoise noise;
  if (o.noise) {
    noise = *o.noise;
  } else {
    auto gen = at::detail::createCPUGenerator(o.seed);
    noise.latents = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
    noise.condition_posterior = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
  }
  for (const at::Tensor* t : {&noise.latents, &noise.condition_posterior})
    if (!t->defined() || !t->sizes().equals(shape))
      throw ModelError("omnipaint: the noise tensors (latents, condition_posterior) must be [1," +
                       std::to_string(shape[1]) + "," + std::to_string(lh) + "," + std::to_string(lw) + "]");
  const auto options = backbone_.transformer().options();
  FluxDevResult r;
  StageTimer timer(options.device());
  timer.begin("vae_encode");
  FluxConditionTokens cond;
  cond.hidden_states = flux::pack_latents(backbone_.encode(condition.to(at::kFloat) * 2.0 - 1.0, noise.condition_posterior));
  cond.ids = flux::latent_image_ids(lh / 2, lw / 2, options);
  timer.end();
  FluxTransformerInputs in;
  in.encoder_hidden_states = prompt_embeds_;
  in.pooled_projections = pooled_;
  in.img_ids = cond.ids;
  in.txt_ids = flux::text_ids(prompt_embeds_.size(1), options);
  if (backbone_.transformer().config().guidance_embeds)
    in.guidance = at::full({1}, o.guidance, options.dtype(at::kFloat));
  const at::Tensor z = backbone_.denoise(
      flux::pack_latents(noise.latents.to(options)), o.steps, timer, r.timesteps,
      [&](const at::Tensor& zt, const at::Tensor& timestep) {
        in.hidden_states = zt;
        in.timestep = timestep;
        return backbone_.transformer().forward(in, cond);
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
