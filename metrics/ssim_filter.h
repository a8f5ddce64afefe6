// The SSIM filter definitions (taps, covariance scale, border crop) and the direct float64 CPU
// kernel that applies them. Internal to metrics/: callers use metrics/ssim.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "metrics/plane_source.h"
#include "metrics/ssim.h"

namespace osor::metrics {

struct SsimFilter {
  std::vector<double> taps;       // 1-D, odd length, applied vertically then horizontally
  double covariance_scale = 1.0;  // 1 (population) or n/(n-1) with n = taps^2 (sample covariance)
  int radius() const { return static_cast<int>(taps.size() / 2); }
};

SsimFilter ssim_filter(SsimWindow window);

// scipy.ndimage 'reflect' (half-sample symmetric) index for any i, also when i is far outside [0, n).
int64_t reflect_index(int64_t i, int64_t n);

// One channel on the CPU. Returns the mean of the SSIM map over the region: the pixels where mask != 0 (h*w,
// row-major) when mask is given, else skimage's crop [r:h-r, r:w-r]. map_out (h*w), when given, receives the
// full map. Throws MetricError if the region is empty.
double ssim_channel_cpu(const PlaneSource& x, const PlaneSource& y, int64_t h, int64_t w, const SsimFilter& filter,
                        const uint8_t* mask, double* map_out);

// The same definition as float64 tensor operations (used on non-CPU devices, and as a second,
// independent implementation in the tests). x, y: [C,H,W] float64 0..255. Returns the full map [C,H,W].
at::Tensor ssim_map_tensor(const at::Tensor& x, const at::Tensor& y, const SsimFilter& filter);

}  // namespace osor::metrics
