// The original Black Forest Labs single-file FLUX.1 checkpoint layout (flux1-dev.safetensors,
// flux1-fill-dev.safetensors: img_in, txt_in, time_in, vector_in, guidance_in, double_blocks.i, single_blocks.i,
// final_layer) converted to diffusers' FluxTransformer2DModel names (spec/model.md §4.2; the inverse of
// stable-diffusion.cpp@97d2990 name_conversion.cpp::convert_diffusers_dit_to_original_flux, plus diffusers'
// scripts/convert_flux_to_diffusers.py::swap_scale_shift). A pure function over name → tensor: no file access.
//
// Fused tensors are split along dim 0 (views, no copy):
//   double_blocks.i.img_attn.qkv  → attn.to_q, attn.to_k, attn.to_v             (dim each)
//   double_blocks.i.txt_attn.qkv  → attn.add_q_proj, add_k_proj, add_v_proj    (dim each)
//   single_blocks.i.linear1       → attn.to_q, to_k, to_v (dim each), proj_mlp (the rest)
// and final_layer.adaLN_modulation.1 is (shift, scale) where diffusers' norm_out.linear is (scale, shift): its
// halves are swapped. Per-head RMSNorm `*.scale` become `*.weight`.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace osor::model::flux {

// How a BFL module's fused rows split into diffusers modules (see above).
enum class BflSplit { none, qkv, qkv_mlp, swap_halves };

// One BFL module path (e.g. "double_blocks.3.img_attn.qkv", "final_layer.adaLN_modulation.1") and its diffusers
// module path(s), in row order.
struct BflModule {
  std::vector<std::string> diffusers;
  BflSplit split = BflSplit::none;
};

// The diffusers module(s) of a BFL module path; false when it names no FLUX.1 transformer module (the per-head
// RMSNorm scales included: they are no Linear).
bool bfl_module_to_diffusers(const std::string& bfl_module, BflModule& out);

// Kohya's flattened form of a BFL module path ("double_blocks_3_img_attn_qkv", the part after `lora_unet_`) → the
// dotted path ("double_blocks.3.img_attn.qkv"); empty when it matches no FLUX.1 transformer module.
std::string kohya_to_bfl_module(const std::string& kohya);

// The dim-0 pieces of a fused tensor in the order of BflModule::diffusers (views; swap_halves makes a copy);
// empty when its rows do not split that way.
std::vector<at::Tensor> split_bfl_rows(const at::Tensor& t, BflSplit split, int64_t inner_dim);

// True when the key names are BFL's (a key under double_blocks., single_blocks., final_layer. or img_in.), which
// no diffusers key is.
bool is_bfl_layout(const std::vector<std::string>& names);

// The tensors under diffusers' names; `inner_dim` (num_attention_heads · attention_head_dim) sizes the splits.
// ModelError naming `source` (the file) and the key for a key with no diffusers name, a fused tensor that does not
// split as above, or two keys with the same diffusers name.
std::map<std::string, at::Tensor> bfl_to_diffusers(const std::map<std::string, at::Tensor>& bfl, int64_t inner_dim,
                                                   const std::string& source);

}  // namespace osor::model::flux
