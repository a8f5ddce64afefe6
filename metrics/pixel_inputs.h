// Validation and region handling shared by the pixel metrics (internal to metrics/).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "metrics/pixel_options.h"

namespace osor::metrics {

// Throws MetricError unless pred and ref are [N,3,H,W] of the same shape and, when the region needs
// one, mask is [N,1,H,W] with the same N, H, W.
void check_pixel_inputs(const std::string& metric, const at::Tensor& pred, const at::Tensor& ref,
                        const PixelOptions& options, const at::Tensor& mask);

struct BoundingBox {
  int64_t top = 0, bottom = 0, left = 0, right = 0;  // half-open: rows [top, bottom), cols [left, right)
};

// The bounding box of the nonzero pixels of a [H,W] mask; throws MetricError if there are none.
BoundingBox mask_bounding_box(const std::string& metric, const at::Tensor& mask_hw);

// 8-bit values of the requested channels, float64 contiguous on the input's device: [N,3|1,H,W].
at::Tensor channel_values(const at::Tensor& images, Channels channels);

}  // namespace osor::metrics
