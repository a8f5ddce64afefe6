#include "metrics/mask_record.h"

#include <ATen/ATen.h>

#include <string>

#include "metrics/error.h"

namespace osor::metrics {

std::vector<int64_t> mask_to_rle(const at::Tensor& mask) {
  if (mask.dim() != 2) throw MetricError("mask_to_rle: expected a [H,W] mask");
  // Column-major order: the transposed mask, flattened row by row.
  const at::Tensor flat = mask.to(at::kCPU, at::kBool).t().contiguous().flatten();
  const bool* p = flat.data_ptr<bool>();
  std::vector<int64_t> counts;
  bool current = false;
  int64_t run = 0;
  for (int64_t i = 0; i < flat.numel(); ++i) {
    if (p[i] != current) {
      counts.push_back(run);
      run = 0;
      current = p[i];
    }
    ++run;
  }
  counts.push_back(run);
  return counts;
}

at::Tensor rle_to_mask(const std::vector<int64_t>& counts, int64_t h, int64_t w) {
  at::Tensor flat = at::zeros({w * h}, at::kBool);
  bool* p = flat.data_ptr<bool>();
  int64_t at_pixel = 0;
  bool value = false;
  for (int64_t c : counts) {
    if (c < 0 || at_pixel + c > h * w)
      throw MetricError("RLE: the counts do not fit a " + std::to_string(h) + "x" + std::to_string(w) + " mask");
    if (value) std::fill(p + at_pixel, p + at_pixel + c, true);
    at_pixel += c;
    value = !value;
  }
  if (at_pixel != h * w)
    throw MetricError("RLE: the counts cover " + std::to_string(at_pixel) + " pixels, expected " + std::to_string(h * w));
  return flat.view({w, h}).t().contiguous();
}

}  // namespace osor::metrics
