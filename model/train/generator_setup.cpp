#include "model/train/generator_setup.h"

#include <ATen/ATen.h>

#include <utility>

#include "model/error.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "model/lora.h"
#include "model/nn/layers.h"
#include "model/schedulers/ddpm.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/train/trainable_lora.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"

namespace osor::model::train {
namespace {

struct Base {
  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<DdpmSchedule> schedule;
  at::Tensor prompt, pooled;
  std::string description;
};

Base pretrained_base(const GeneratorSetup& s, const at::TensorOptions& options) {
  const SdxlInpaintFiles f = SdxlInpaintFiles::locate(s.weights_dir, s.prompt_embeds);
  Base b;
  b.unet = std::make_unique<UNet2DConditionModel>(UNetConfig::from_file(f.unet_config), options);
  b.unet->load({f.unet_weights});
  b.vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(f.vae_config), options);
  b.vae->load({f.vae_weights});
  b.schedule = std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(f.scheduler_config));
  const PromptCache cache = read_prompt_cache(f.prompt_embeds);
  b.prompt = cache.prompt_embeds;
  b.pooled = cache.pooled_prompt_embeds;
  b.description = "SDXL-Inpainting from " + s.weights_dir.string();
  return b;
}

Base random_base(const GeneratorSetup& s, const at::TensorOptions& options) {
  const auto dir = s.random_config_dir / "sdxl-inpainting";
  for (const auto& p : {dir / "unet" / "config.json", dir / "vae" / "config.json", dir / "scheduler" / "scheduler_config.json"})
    if (!std::filesystem::exists(p)) throw ModelError("training with random weights: missing config file " + p.string());
  Base b;
  const UNetConfig unet_cfg = UNetConfig::from_file(dir / "unet" / "config.json");
  b.unet = std::make_unique<UNet2DConditionModel>(unet_cfg, options);
  b.unet->randomize(s.seed);
  b.vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(dir / "vae" / "config.json"), options);
  b.vae->randomize(s.seed + 1);
  b.schedule = std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(dir / "scheduler" / "scheduler_config.json"));
  const int64_t pooled_dim = unet_cfg.projection_class_embeddings_input_dim - 6 * unet_cfg.addition_time_embed_dim;
  auto gen = at::detail::createCPUGenerator(s.seed + 2);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  b.prompt = at::randn({1, 77, unet_cfg.cross_attention_dim}, gen, f32);
  b.pooled = at::randn({1, pooled_dim}, gen, f32);
  b.description = "random SDXL-Inpainting networks from " + s.random_config_dir.string();
  return b;
}

}  // namespace

TrainableGenerator build_trainable_generator(const GeneratorSetup& s) {
  if (s.phase != 1 && s.phase != 2) throw ModelError("training: phase must be 1 or 2, got " + std::to_string(s.phase));
  if (s.weights_dir.empty() == s.random_config_dir.empty())
    throw ModelError("training: give either a weights directory or a config directory for random weights");
  const auto options = at::TensorOptions().device(s.device).dtype(s.dtype);
  Base b = s.weights_dir.empty() ? random_base(s, options) : pretrained_base(s, options);
  TrainableGenerator out;
  std::string adapters;
  if (!s.init_checkpoint.empty()) {
    LoraOptions runtime;
    runtime.merge = false;
    const LoraReport r = apply_osor_checkpoint(*b.unet, SafetensorsFile::open(s.init_checkpoint), runtime);
    out.lora_modules = r.wrapped_modules;
    out.lora_rank = r.rank;
    out.lora_alpha = r.scaling * static_cast<double>(r.rank);
    adapters = "adapters from " + s.init_checkpoint.string();
  }
  if (out.lora_modules == 0) {
    TrainableLoraOptions lora;
    lora.rank = s.lora_rank;
    lora.alpha = s.lora_alpha;
    lora.seed = s.seed + 3;
    out.lora_modules = attach_fresh_lora(b.unet->module(), sdxl_lora_targets(), lora);
    out.lora_rank = s.lora_rank;
    out.lora_alpha = s.lora_alpha;
    adapters = "fresh adapters" + (adapters.empty() ? std::string() : " (" + adapters + " had none)");
  }
  const int64_t channels = b.unet->conv_out_channels();
  if (s.phase == 1 && channels != 4)
    throw ModelError("training Phase I: the initial state's conv_out has " + std::to_string(channels) +
                     " channels (a Phase II checkpoint?); Phase I trains the 4-channel ε output");
  if (s.phase == 2 && channels == 4) widen_conv_out(*b.unet, 5, s.seed + 4);
  out.parameters = make_trainable(b.unet->module(), "unet.", "conv_out");
  out.description = b.description + "; " + std::to_string(out.lora_modules) + " LoRA modules of rank " +
                    std::to_string(out.lora_rank) + " (" + adapters + "); Phase " + std::to_string(s.phase);
  out.generator = std::make_unique<SdxlGenerator>(std::move(b.unet), std::move(b.vae), std::move(b.schedule),
                                                  std::move(b.prompt), std::move(b.pooled));
  return out;
}

}  // namespace osor::model::train
