// OSOR-FLUX's generator checkpoint on the FLUX transformer (osor-fluxfill/src/models/generator_enhance.py):
// PEFT LoRA adapters (lora_A / lora_B) on the layers PEFT wrapped, plus the trainable terminal layer proj_out —
// widened 64→68 in Phase II (rows 0–63 the velocity, rows 64–67 the alpha logits of the 2×2 sub-pixels).
//
// Keys are OSOR's (`{n: p for n, p in G.named_parameters() if p.requires_grad}`):
// `transformer.base_model.model.<module path>.lora_{A,B}.default.weight` and
// `transformer.base_model.model.proj_out.{weight,bias}`; the prefixes are removed as for the UNet (model/lora.h),
// and whatever adapters the checkpoint holds are applied. OSOR's target list wraps, per double block,
// attn.to_q/to_k/to_v, attn.to_out.0, ff.net.0.proj, ff.net.2 and, per single block, attn.to_q/to_k/to_v and
// proj_mlp: its "single_transformer_blocks.*.proj_out" entry matches nothing in PEFT 0.14 (no wildcards in a
// name list), so a faithful checkpoint has no adapter there. Scaling = alpha / r (alpha from the options, the
// file's metadata, else = r as OSOR trains).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

#include "model/lora.h"

namespace osor::model {

class FluxTransformer2DModel;
class SafetensorsFile;

LoraReport apply_osor_checkpoint(FluxTransformer2DModel& transformer, const std::map<std::string, at::Tensor>& tensors,
                                 const std::string& source, const LoraOptions& options = {});
LoraReport apply_osor_checkpoint(FluxTransformer2DModel& transformer, const SafetensorsFile& file,
                                 const LoraOptions& options = {});

// OSOR Phase II initialisation of the alpha head: proj_out widened to `features` (68), the old rows copied, the new
// rows kaiming_normal_(relu) (std = √(2/inner)) drawn from `seed`, new bias 0.
void widen_proj_out(FluxTransformer2DModel& transformer, int64_t features, uint64_t seed);

}  // namespace osor::model
