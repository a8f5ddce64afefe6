// One mask of segment-anything's automatic mask generator, as its `generate` returns it with
// output_mode="binary_mask" (the fields CFD and the fixtures use), and SAM's uncompressed RLE: counts alternate
// 0-run, 1-run, … starting with zeros, over the H·W pixels in column-major order (flat index x·H + y).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

namespace osor::metrics {

struct MaskRecord {
  at::Tensor segmentation;               // bool [H,W] (CPU)
  int64_t area = 0;                      // sum of the RLE's 1-runs
  std::array<int64_t, 4> bbox_xywh{};    // of the inclusive box (x0, y0, x1 − x0, y1 − y0)
  double predicted_iou = 0;              // the float32 value, widened
  std::array<double, 2> point_coords{};  // the prompt point (x, y) in the picture frame
  double stability_score = 0;            // float32, widened
  std::array<int64_t, 4> crop_box_xywh{};
};

// bool [H,W] → SAM's uncompressed RLE counts.
std::vector<int64_t> mask_to_rle(const at::Tensor& mask);
// Counts (of total h·w) → bool [h,w]; throws MetricError when they do not add up to h·w or one is negative.
at::Tensor rle_to_mask(const std::vector<int64_t>& counts, int64_t h, int64_t w);

}  // namespace osor::metrics
