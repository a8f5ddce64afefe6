// Generic FLUX LoRA files on the transformer: the key layouts public FLUX LoRAs ship, each mapped onto diffusers'
// module paths (model/flux/flux_transformer.h) and attached as PEFT adapters (y = W x + b + s·B(A x)):
//   diffusers / PEFT  `transformer.<path>.lora_A.weight`, `.lora_B.weight` (diffusers' save_lora_weights, e.g.
//                     OmniPaint's and OmniEraser's files), also `.lora_A.default.weight`, `base_model.model.`
//                     and an optional `<path>.alpha`;
//   kohya             `lora_unet_<BFL module with _>.lora_down.weight`, `.lora_up.weight`, `.alpha`
//                     (e.g. lora_unet_double_blocks_0_img_attn_qkv): BFL module names (model/flux/bfl_key_names.h),
//                     fused layers split: qkv → to_q/to_k/to_v and linear1 → to_q/to_k/to_v/proj_mlp share
//                     lora_down and take their rows of lora_up (exact: the rows of B·A are those of B times A);
//                     final_layer.adaLN_modulation.1's lora_up halves swapped as its weight's are;
//   BFL dotted        `[diffusion_model.]double_blocks.0.img_attn.qkv.lora_A.weight` (the same mapping).
// Scaling per module: alpha / r with alpha from the module's `.alpha` tensor (kohya), else the options' or the
// file metadata's lora_alpha, else alpha = r (diffusers' load_lora_weights without alphas: scale 1). Text-encoder
// keys (`lora_te*`, `text_encoder*`) are skipped and counted: the prompt is a fixed embedding here. Other tensors
// under diffusers parameter names (OmniEraser's optional norm layers) are copied into the transformer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

#include "model/lora.h"

namespace osor::model {

class FluxTransformer2DModel;
class SafetensorsFile;

// One adapter on a diffusers module path.
struct FluxLoraAdapter {
  at::Tensor down, up;  // lora_A [r, in], lora_B [out, r]
  double scale = 1.0;   // alpha / r
};

struct FluxLoraFile {
  std::map<std::string, FluxLoraAdapter> adapters;  // diffusers module path → adapter
  std::map<std::string, at::Tensor> plain;          // other tensors, under diffusers parameter names
  int64_t skipped_text_encoder = 0;                 // lora_te* / text_encoder* tensors not applied
};

// Maps a LoRA file's tensors (any layout above) to diffusers modules; `inner_dim` sizes the fused splits.
// ModelError naming `source` and the key for a key no layout explains, a module with one half, or a fused lora_up
// that does not split.
FluxLoraFile read_flux_lora(const std::map<std::string, at::Tensor>& tensors, int64_t inner_dim,
                            const std::string& source, const LoraOptions& options = {});

// Attaches the adapters (merged or at runtime, LoraOptions::merge) and copies the other tensors. ModelError for a
// module path the transformer lacks or an adapter whose shape does not fit (e.g. a widened x_embedder's).
LoraReport apply_flux_lora(FluxTransformer2DModel& transformer, const FluxLoraFile& lora, const std::string& source,
                           const LoraOptions& options = {});
// read_flux_lora + apply_flux_lora on a safetensors file (its metadata's lora_alpha is used when present).
LoraReport apply_flux_lora(FluxTransformer2DModel& transformer, const SafetensorsFile& file,
                           const LoraOptions& options = {});

}  // namespace osor::model
