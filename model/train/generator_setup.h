// Builds the generator a training run starts from (OSOR's init_models / on_training_start; spec §1.2, §2.6):
//   base     SDXL-Inpainting UNet + VAE + scheduler + the fixed prompt's cache from the weights directory (the
//            sdxl-inpainting/ layout osor-sdxl uses), or random networks from configs (tests, measurements)
//   adapters fresh PEFT LoRA on OSOR's targets (gaussian init, rank/alpha as given), or those of `init_checkpoint`
//            (OSOR's state_dict: a Phase I result to start Phase II from, or a checkpoint to fine-tune)
//   Phase II the terminal conv_out widened 4 → 5 (rows 0–3 kept, row 4 kaiming-normal, bias 0) when the initial
//            state has 4 channels
// and returns the trainable tensors under OSOR's checkpoint names (model/train/trainable_lora.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/train/sdxl_generator.h"

namespace osor::model::train {

struct GeneratorSetup {
  std::filesystem::path weights_dir;        // holds sdxl-inpainting/{unet,vae,scheduler}/ and the prompt cache
  std::filesystem::path random_config_dir;  // instead: <dir>/sdxl-inpainting/{unet,vae,scheduler} configs, random weights
  std::filesystem::path prompt_embeds;      // overrides the prompt cache's path
  std::filesystem::path init_checkpoint;    // OSOR state_dict (.safetensors) to start from
  int phase = 1;
  int64_t lora_rank = 256;
  double lora_alpha = 256;
  uint64_t seed = 0;                         // fresh adapters, the alpha row, random networks
  at::Device device = at::Device(at::kCPU);
  at::ScalarType dtype = at::kFloat;         // frozen base weights; trainable tensors are float32
};

struct TrainableGenerator {
  std::unique_ptr<SdxlGenerator> generator;
  std::vector<std::pair<std::string, at::Tensor>> parameters;  // OSOR's names
  int64_t lora_modules = 0;
  int64_t lora_rank = 0;
  double lora_alpha = 0;  // of the adapters in use (the init checkpoint's, or the setup's for fresh ones)
  std::string description;  // one line: base, adapters, phase
};

// ModelError naming the missing file or the inconsistent setting.
TrainableGenerator build_trainable_generator(const GeneratorSetup& setup);

}  // namespace osor::model::train
