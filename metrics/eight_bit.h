// The pixel metrics are defined on 8-bit images, as every object-removal table reports them.
// Tensors arrive either as uint8 (used as they are) or as float in [0,1] (the ARCHITECTURE.md
// convention): those are quantised with round(clamp(x,0,1)*255), which recovers the exact 8-bit
// values of an image decoded from an 8-bit file, so no metric sees re-rounded floats.
#pragma once

#include <ATen/core/Tensor.h>

namespace osor::metrics {

// [N,C,H,W] uint8 or floating → float64 tensor of integer values in 0..255, same device.
at::Tensor eight_bit_values(const at::Tensor& images);

// [N,3,H,W] float64 0..255 → [N,1,H,W] float64 luma, Y = 0.299 R + 0.587 G + 0.114 B (no rounding).
at::Tensor luma_bt601(const at::Tensor& rgb255);

}  // namespace osor::metrics
