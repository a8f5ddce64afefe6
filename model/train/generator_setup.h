// Builds the generator a training run starts from (OSOR's init_models / on_training_start; spec §1.2, §2.6, §4.7):
//   base     SDXL: SDXL-Inpainting UNet + VAE + scheduler (the sdxl-inpainting/ layout osor-sdxl uses);
//            FLUX: FLUX.1-Fill transformer + VAE (the flux-fill/ layout osor-flux uses);
//            + the fixed prompt's cache (osor-sdxl's / osor-flux's), or random networks from configs
//            (<dir>/sdxl-inpainting or <dir>/flux-fill: tests, measurements)
//   adapters fresh PEFT LoRA on OSOR's targets (gaussian init; rank/alpha as given, else the official 256/256
//            SDXL, 64/64 FLUX), or those of `init_checkpoint` (OSOR's state_dict: a Phase I result to start
//            Phase II from, or a checkpoint to fine-tune)
//   Phase II the terminal layer widened when the initial state has none: SDXL conv_out 4 → 5, FLUX proj_out
//            64 → 68 (old rows kept, new rows kaiming-normal, bias 0)
// and returns the trainable tensors under OSOR's checkpoint names (model/train/trainable_lora.h): "unet." (SDXL),
// "transformer.base_model.model." (FLUX, the PeftModel nesting).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/train/generator.h"
#include "model/train/train_config.h"

namespace osor::model::train {

struct GeneratorSetup {
  Backbone backbone = Backbone::Sdxl;
  std::filesystem::path weights_dir;        // the weights layout (model/weights_manifest.h): backbone + prompt cache
  std::filesystem::path random_config_dir;  // instead: the configs under <dir>, random weights
  std::filesystem::path prompt_embeds;      // overrides the prompt cache's path
  std::filesystem::path init_checkpoint;    // OSOR state_dict (.safetensors) to start from
  int phase = 1;
  int64_t lora_rank = 0;   // fresh adapters; 0: the official rank (SDXL 256, FLUX 64)
  double lora_alpha = 0;   // 0: = the rank (OSOR's setting)
  uint64_t seed = 0;                         // fresh adapters, the alpha row, random networks
  at::Device device = at::Device(at::kCPU);
  at::ScalarType dtype = at::kFloat;              // frozen base weights
  at::ScalarType trainable_dtype = at::kFloat;    // trainable tensors: float32 (OSOR); float64 for exact checks
};

struct TrainableGenerator {
  std::unique_ptr<Generator> generator;  // SdxlGenerator or FluxGenerator
  std::vector<std::pair<std::string, at::Tensor>> parameters;  // OSOR's names
  int64_t lora_modules = 0;
  int64_t lora_rank = 0;
  double lora_alpha = 0;  // of the adapters in use (the init checkpoint's, or the setup's for fresh ones)
  std::string description;  // one line: base, adapters, phase
};

// The rank and alpha of fresh adapters: the given ones, where 0 means OSOR's (configs/phase{1,2}.yaml: rank SDXL
// 256, FLUX 64; alpha = rank).
struct LoraSetting {
  int64_t rank = 0;
  double alpha = 0;
};
LoraSetting fresh_lora_setting(Backbone backbone, int64_t rank, double alpha);

// ModelError naming the missing file or the inconsistent setting.
TrainableGenerator build_trainable_generator(const GeneratorSetup& setup);

}  // namespace osor::model::train
