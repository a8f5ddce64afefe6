// omnipaint: OmniPaint's object removal (model/flux_baselines/omnipaint.h) with its script's image handling
// (scripts/omnipaint_remove.py, yeates/OmniPaint@cdb7c26), every resize Pillow's Lanczos on 8-bit values:
//   image: long side > long_side (1024) → both sides scaled by long_side/long and truncated (Python int());
//   mask:  resized to that size (soft, not binarised), inverted, and the image composited onto black with it
//          (Image.composite: round(image·(255 − mask)/255), Pillow's DIV255) — the object is blacked out;
//   the composite resized to both sides floored to ×16 (diffusers' image processor; identity when already so);
//   output: (x·255).round() at that size, resized to the long-side-capped size (the script's output), then to the
//   input size when the input was larger (the harness's step; the script stops at the capped size).
// Options: steps=28, guidance=3.5, long_side=1024, prompt=FILE (.npz, .safetensors or .pt with prompt_embeds and
// pooled_prompt_embeds; default omnipaint/remove.npz, the shipped embeddings), noise=FILE (latents and
// condition_posterior, each [1,16,h/8,w/8]: recorded draws; otherwise from --seed). Random weights:
// model::OmniPaint::random.
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

std::unique_ptr<Remover> make_omnipaint_remover(const MethodSpec& spec, const RemoverContext& context);

// The script's processing sizes for an h × w input: (capped h, capped w) and the condition's (×16 floors).
struct OmniPaintSizes {
  int64_t height, width, condition_height, condition_width;
};
OmniPaintSizes omnipaint_sizes(int64_t height, int64_t width, int64_t long_side);

// Image.composite(image, black, invert(mask)) on 8-bit [1,3,h,w] and [1,1,h,w] (uint8 in, uint8 out).
at::Tensor omnipaint_composite(const at::Tensor& image_u8, const at::Tensor& mask_u8);

}  // namespace osor::adapters
