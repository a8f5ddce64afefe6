#include "model/train/generator_setup.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <functional>
#include <utility>

#include "model/error.h"
#include "model/flux/flux_lora.h"
#include "model/flux/flux_transformer.h"
#include "model/flux_fill/multi_step.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "model/lora.h"
#include "model/nn/layers.h"
#include "model/schedulers/ddpm.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/train/flux_generator.h"
#include "model/train/sdxl_generator.h"
#include "model/train/trainable_lora.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model::train {
namespace {

void require_configs(const std::vector<std::filesystem::path>& files) {
  for (const auto& p : files)
    if (!std::filesystem::exists(p)) throw ModelError("training with random weights: missing config file " + p.string());
}

// A random prompt cache of the shapes the backbone takes (tokens: the real cache's length).
std::pair<at::Tensor, at::Tensor> random_prompt(int64_t tokens, int64_t dim, int64_t pooled_dim, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor prompt = at::randn({1, tokens, dim}, gen, f32);
  return {prompt, at::randn({1, pooled_dim}, gen, f32)};
}

std::unique_ptr<SdxlGenerator> sdxl_base(const GeneratorSetup& s, const at::TensorOptions& options, std::string& description) {
  if (!s.weights_dir.empty()) {
    const SdxlInpaintFiles f = SdxlInpaintFiles::locate(s.weights_dir, s.prompt_embeds);
    auto unet = std::make_unique<UNet2DConditionModel>(UNetConfig::from_file(f.unet_config), options);
    unet->load({f.unet_weights});
    auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(f.vae_config), options);
    vae->load({f.vae_weights});
    const PromptCache cache = read_prompt_cache(f.prompt_embeds);
    description = "SDXL-Inpainting from " + s.weights_dir.string();
    return std::make_unique<SdxlGenerator>(std::move(unet), std::move(vae),
                                           std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(f.scheduler_config)),
                                           cache.prompt_embeds, cache.pooled_prompt_embeds);
  }
  const auto dir = s.random_config_dir / "sdxl-inpainting";
  require_configs({dir / "unet" / "config.json", dir / "vae" / "config.json", dir / "scheduler" / "scheduler_config.json"});
  const UNetConfig unet_cfg = UNetConfig::from_file(dir / "unet" / "config.json");
  auto unet = std::make_unique<UNet2DConditionModel>(unet_cfg, options);
  unet->randomize(s.seed);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(dir / "vae" / "config.json"), options);
  vae->randomize(s.seed + 1);
  const int64_t pooled_dim = unet_cfg.projection_class_embeddings_input_dim - 6 * unet_cfg.addition_time_embed_dim;
  const auto [prompt, pooled] = random_prompt(77, unet_cfg.cross_attention_dim, pooled_dim, s.seed + 2);
  description = "random SDXL-Inpainting networks from " + s.random_config_dir.string();
  return std::make_unique<SdxlGenerator>(
      std::move(unet), std::move(vae),
      std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(dir / "scheduler" / "scheduler_config.json")), prompt,
      pooled);
}

std::unique_ptr<FluxGenerator> flux_base(const GeneratorSetup& s, const at::TensorOptions& options, std::string& description) {
  if (!s.weights_dir.empty()) {
    std::string missing;
    const FluxFillBackboneFiles f = FluxFillBackboneFiles::locate(s.weights_dir, missing);
    const auto prompt_file = s.prompt_embeds.empty()
                                 ? s.weights_dir / weights_file_info("osor-flux-prompt-embeds").relative_path
                                 : s.prompt_embeds;
    if (!std::filesystem::is_regular_file(prompt_file)) missing += (missing.empty() ? "" : ", ") + prompt_file.string();
    if (!missing.empty())
      throw ModelError("training OSOR-FLUX: missing weights file(s) " + missing +
                       "; get flux-fill/{transformer,vae}/ from huggingface.co/black-forest-labs/FLUX.1-Fill-dev (gated) "
                       "and the prompt cache with scripts/encode_flux_prompt.py or `osor weights convert` (docs/models.md)");
    auto transformer = std::make_unique<FluxTransformer2DModel>(FluxTransformerConfig::from_file(f.transformer_config), options);
    transformer->load(f.transformer_weights);
    auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(f.vae_config), options);
    vae->load({f.vae_weights});
    const PromptCache cache = read_prompt_cache(prompt_file);
    description = "FLUX.1-Fill from " + s.weights_dir.string();
    return std::make_unique<FluxGenerator>(std::move(transformer), std::move(vae), cache.prompt_embeds,
                                           cache.pooled_prompt_embeds);
  }
  const auto dir = s.random_config_dir / "flux-fill";
  require_configs({dir / "transformer" / "config.json", dir / "vae" / "config.json"});
  const FluxTransformerConfig config = FluxTransformerConfig::from_file(dir / "transformer" / "config.json");
  auto transformer = std::make_unique<FluxTransformer2DModel>(config, options);
  transformer->randomize(s.seed);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(dir / "vae" / "config.json"), options);
  vae->randomize(s.seed + 1);
  // 512 T5 tokens, as OSOR's cache (max_sequence_length=512).
  const auto [prompt, pooled] = random_prompt(512, config.joint_attention_dim, config.pooled_projection_dim, s.seed + 2);
  description = "random FLUX.1-Fill networks from " + s.random_config_dir.string();
  return std::make_unique<FluxGenerator>(std::move(transformer), std::move(vae), prompt, pooled);
}

// What differs between the backbones in making the generator trainable.
struct TrainableNetwork {
  torch::nn::Module& network;
  std::vector<std::string> targets;  // PEFT's target list
  std::string prefix;          // OSOR's checkpoint names: "unet." / "transformer.base_model.model."
  std::string terminal_layer;  // trained whole, widened for the alpha head in Phase II: conv_out / proj_out
};

// The init checkpoint's adapters at runtime, else fresh PEFT adapters; returns the description's adapter part.
std::string attach_adapters(const GeneratorSetup& s, const TrainableNetwork& n, TrainableGenerator& out) {
  std::string adapters;
  if (!s.init_checkpoint.empty()) {
    LoraOptions runtime;
    runtime.merge = false;
    const LoraReport r = apply_osor_checkpoint(n.network, SafetensorsFile::open(s.init_checkpoint), n.terminal_layer, runtime);
    out.lora_modules = r.wrapped_modules;
    out.lora_rank = r.rank;
    out.lora_alpha = r.scaling * static_cast<double>(r.rank);
    adapters = "adapters from " + s.init_checkpoint.string();
  }
  if (out.lora_modules > 0) return adapters;
  const LoraSetting setting = fresh_lora_setting(s.backbone, s.lora_rank, s.lora_alpha);
  TrainableLoraOptions lora;
  lora.rank = setting.rank;
  lora.alpha = setting.alpha;
  lora.seed = s.seed + 3;
  out.lora_modules = attach_fresh_lora(n.network, n.targets, lora);
  out.lora_rank = lora.rank;
  out.lora_alpha = lora.alpha;
  return "fresh adapters" + (adapters.empty() ? std::string() : " (" + adapters + " had none)");
}

// Adapters, the Phase I check or the Phase II widening (`widen_alpha_head`), the trainable tensors by OSOR's names.
void make_generator_trainable(const GeneratorSetup& s, const TrainableNetwork& n, Generator& g,
                              const std::function<void()>& widen_alpha_head, TrainableGenerator& out, std::string& text) {
  const std::string adapters = attach_adapters(s, n, out);
  if (s.phase == 1 && g.has_alpha_head())
    throw ModelError("training Phase I: the initial state's " + g.terminal_layer_shape() + " (a Phase II checkpoint?); "
                     "Phase I trains the network's own output without the alpha head");
  if (s.phase == 2 && !g.has_alpha_head()) widen_alpha_head();
  out.parameters = make_trainable(n.network, n.prefix, n.terminal_layer, s.trainable_dtype);
  text += "; " + std::to_string(out.lora_modules) + " LoRA modules of rank " + std::to_string(out.lora_rank) + " (" +
          adapters + ")";
}

}  // namespace

LoraSetting fresh_lora_setting(Backbone backbone, int64_t rank, double alpha) {
  LoraSetting setting;
  setting.rank = rank > 0 ? rank : (backbone == Backbone::Flux ? 64 : 256);
  setting.alpha = alpha > 0 ? alpha : static_cast<double>(setting.rank);
  return setting;
}

TrainableGenerator build_trainable_generator(const GeneratorSetup& s) {
  if (s.phase != 1 && s.phase != 2) throw ModelError("training: phase must be 1 or 2, got " + std::to_string(s.phase));
  if (s.weights_dir.empty() == s.random_config_dir.empty())
    throw ModelError("training: give either a weights directory or a config directory for random weights");
  const auto options = at::TensorOptions().device(s.device).dtype(s.dtype);
  TrainableGenerator out;
  std::string text;
  if (s.backbone == Backbone::Flux) {
    auto g = flux_base(s, options, text);
    FluxTransformer2DModel& t = *g->transformer;
    make_generator_trainable(s, {t.module(), flux_lora_targets(), "transformer.base_model.model.", "proj_out"},
                             *g, [&] { widen_proj_out(t, t.output_features() + 4, s.seed + 4); }, out, text);
    out.generator = std::move(g);
  } else {
    auto g = sdxl_base(s, options, text);
    UNet2DConditionModel& unet = *g->unet;
    make_generator_trainable(s, {unet.module(), sdxl_lora_targets(), "unet.", "conv_out"},
                             *g, [&] { widen_conv_out(unet, 5, s.seed + 4); }, out, text);
    out.generator = std::move(g);
  }
  out.description = text + "; Phase " + std::to_string(s.phase);
  return out;
}

}  // namespace osor::model::train
