// One channel's 8-bit values as the CPU pixel kernels read them: row by row, converted to float64 0..255 on the
// fly, so no whole-image float64 copy is made (at 1024² that copy cost more than the SSIM filter itself).
// Internal to metrics/.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "metrics/pixel_options.h"

namespace osor::metrics {

struct PlaneSource {
  enum class Type { U8, F32, F64 };
  Type type = Type::U8;
  const void* planes[3] = {nullptr, nullptr, nullptr};  // the channel's plane, or R, G, B for luma
  bool luma = false;
  int64_t width = 0;       // pixels per row
  int64_t row_stride = 0;  // elements between rows (a crop keeps the full image's stride)

  // Row `row` as float64 0..255: uint8 values as they are; floating [0,1] values as round(clamp(v,0,1)·255)
  // (exactly eight_bit_values); luma as luma_bt601 computes it from those values.
  void read_row(int64_t row, double* out) const;
};

// The image's pixels in the layout the plane sources read: CPU, contiguous, uint8/float32/float64 (other
// floating types become float32, exactly). `images` is [N,3,H,W].
at::Tensor plane_source_storage(const at::Tensor& images);

// Channel `channel` (0..2; ignored for luma) of image `index` of `storage`, restricted to rows
// [top, top+height) and columns [left, left+width) through the returned source's pointers.
PlaneSource plane_source(const at::Tensor& storage, int64_t index, int64_t channel, Channels channels,
                         int64_t top = 0, int64_t left = 0);

}  // namespace osor::metrics
