// 8-connected component labelling as cv2.connectedComponents(WithStats)(mask, 8) returns it: background label 0,
// components 1..n numbered in the raster order of their first pixel (OpenCV's order), with their pixel counts.
// CFD splits the object mask with it; SAM's remove_small_regions measures islands and holes with it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace osor::metrics {

struct ComponentLabels {
  at::Tensor labels;           // int32 [H,W], 0 = background
  std::vector<int64_t> sizes;  // sizes[i] = pixels of label i + 1
};

// mask: [H,W], nonzero = foreground (CPU or not; labelled on the CPU).
ComponentLabels label_components8(const at::Tensor& mask);

}  // namespace osor::metrics
