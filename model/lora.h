// OSOR's generator checkpoint on the SDXL UNet: PEFT LoRA adapters (lora_A / lora_B) on the linear and conv
// layers PEFT wrapped, plus the trainable terminal layer conv_out — widened 4→5 in Phase II (rows 0–3 the
// pretrained ε output, row 4 the alpha logit).
//
// Checkpoint keys are OSOR's own (`{n: p for n, p in G.named_parameters() if p.requires_grad}`):
// `unet.<module path>.lora_A.default.weight`, `unet.<module path>.lora_B.default.weight`, `unet.conv_out.{weight,bias}`;
// the prefixes `module.`, `_orig_mod.` (DDP / torch.compile, stripped by OSOR's loader), `unet.` and PEFT's
// `base_model.model.` are removed, and `.default` (the adapter name) is optional. The module path is the diffusers
// name (e.g. down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q); every path must exist in the UNet.
//
// LoRA math (PEFT 0.14): y = W x + b + s·B(A x), s = lora_alpha / r. For convolutions A is a conv with the base
// kernel/stride/padding and B a 1×1 conv. Merged (default): W += s·B·A (k×k convs: ΔW[o,i] = s·Σ_r B[o,r]·A[r,i]),
// computed in float32 and cast back to the model dtype; runtime: the adapter runs beside the layer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace torch::nn {
class Module;
}

namespace osor::model {

class UNet2DConditionModel;
class SafetensorsFile;

struct LoraOptions {
  bool merge = true;              // fold the adapters into the weights (fast) or keep them at runtime
  bool enable_adapters = true;    // false: load only the non-LoRA tensors (conv_out), as PEFT's disable_adapters
  // lora_alpha; when absent: the file's "lora_alpha" metadata, else alpha = rank (OSOR trains with alpha = rank).
  std::optional<double> alpha;
};

struct LoraReport {
  int64_t wrapped_modules = 0;    // modules that received an adapter
  int64_t rank = 0;               // r of the adapters (all must agree)
  double scaling = 1.0;           // alpha / r
  int64_t conv_out_channels = 0;  // after loading (5 for an OSOR Phase II checkpoint)
  int64_t output_channels = 0;    // the terminal layer's outputs after loading (UNet conv_out 5, FLUX proj_out 68)
  int64_t other_tensors = 0;      // non-LoRA tensors copied (conv_out.* included)
};

// Applies OSOR's checkpoint `tensors` (name → tensor, any dtype) to `unet`. `source` names it in errors
// (ModelError: unknown module path, shape mismatch, ranks that disagree).
LoraReport apply_osor_checkpoint(UNet2DConditionModel& unet, const std::map<std::string, at::Tensor>& tensors,
                                 const std::string& source, const LoraOptions& options = {});
// The same, reading a safetensors file (the file's __metadata__ may carry "lora_alpha" / "r").
LoraReport apply_osor_checkpoint(UNet2DConditionModel& unet, const SafetensorsFile& file,
                                 const LoraOptions& options = {});

// The same on any network built from the nn:: layers (the FLUX transformer: model/flux/flux_lora.h), whose
// trainable terminal layer `terminal_layer` (a Linear or Conv2d path: "conv_out", "proj_out") the checkpoint may
// widen. The prefix `transformer.` (OSOR-FLUX's generator attribute) is removed like `unet.`.
LoraReport apply_osor_checkpoint(torch::nn::Module& network, const std::map<std::string, at::Tensor>& tensors,
                                 const std::string& source, const std::string& terminal_layer,
                                 const LoraOptions& options = {});
LoraReport apply_osor_checkpoint(torch::nn::Module& network, const SafetensorsFile& file,
                                 const std::string& terminal_layer, const LoraOptions& options = {});

// OSOR Phase II initialisation of the alpha head (generator_enhance.py): conv_out widened to `channels`, the old
// rows copied, the new rows kaiming_normal_(relu) (std = √(2/fan_in)) drawn from `seed`, new bias 0.
void widen_conv_out(UNet2DConditionModel& unet, int64_t channels, uint64_t seed);

}  // namespace osor::model
