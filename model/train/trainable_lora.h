// The generator's trainable tensors as OSOR trains them (spec §2.6, §1.2): PEFT LoRA adapters kept beside the frozen
// layers (runtime mode of model/nn/layers.h) plus the trainable terminal layer (UNet conv_out), all float32 leaves
// with requires_grad, named as OSOR's checkpoint names them:
//   unet.<module path>.lora_A.default.weight, unet.<module path>.lora_B.default.weight, unet.conv_out.{weight,bias}
// so `{name: tensor}` written to safetensors is what OSOR's inference loader and `osor remove --weights` read.
//
// PEFT's target rule (peft 0.14 check_target_module_exists): a module is wrapped when its path equals a target or
// ends with "." + target; only Linear and Conv2d layers. Fresh adapters use init_lora_weights="gaussian":
// lora_A ~ N(0, 1/r), lora_B = 0, scaling = lora_alpha / r.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model::train {

// OSOR's SDXL target list (configs/phase{1,2}.yaml lora.modules).
std::vector<std::string> sdxl_lora_targets();

// Whether PEFT wraps the module at `path` for `targets`.
bool peft_targets_module(const std::string& path, const std::vector<std::string>& targets);

struct TrainableLoraOptions {
  int64_t rank = 256;
  double alpha = 256;  // lora_alpha
  uint64_t seed = 0;   // the gaussian draws of lora_A (module by module in path order)
};

// Attaches fresh PEFT-initialised runtime adapters to every targeted layer of `network` that has none; returns the
// number of wrapped modules (ModelError when none matches).
int64_t attach_fresh_lora(torch::nn::Module& network, const std::vector<std::string>& targets,
                          const TrainableLoraOptions& options);

// Every runtime adapter of `network` and the terminal layer's weight/bias, made leaves requiring gradients in
// `dtype` (OSOR: float32 whatever the base weights' dtype; float64 for parity checks), by OSOR's names with
// `prefix` ("unet."); the module keeps using them. Sorted by name.
std::vector<std::pair<std::string, at::Tensor>> make_trainable(torch::nn::Module& network, const std::string& prefix,
                                                               const std::string& terminal_layer,
                                                               at::ScalarType dtype = at::kFloat);

}  // namespace osor::model::train
