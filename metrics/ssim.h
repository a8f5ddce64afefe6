// SSIM of Wang et al. (2004), exactly as scikit-image 0.19 `structural_similarity` computes it.
//
// Per channel, with x = ref and y = pred as float64 8-bit values and a separable filter F
// (vertical then horizontal, scipy 'reflect' borders = half-sample symmetric, `x1 x0 | x0 x1 ...`):
//   ux = F(x), uy = F(y), vx = c (F(x x) - ux^2), vy = c (F(y y) - uy^2), vxy = c (F(x y) - ux uy)
//   S  = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2)),  C1 = (0.01*255)^2, C2 = (0.03*255)^2
// Windows:
//   gaussian (`ssim`)        : 11 taps, w_k ∝ exp(-k^2 / (2*1.5^2)), k = -5..5 (scipy truncate=3.5), c = 1.
//                              = skimage(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
//                                data_range=255), i.e. MATLAB ssim_index.m on the valid region.
//   uniform (`ssim-uniform`) : 7x7 box mean, c = 49/48 (sample covariance) = skimage's defaults.
// Regions (pixel_options.h):
//   full : mean of S over S[p:H-p, p:W-p], p = 5 (gaussian) or 3 (uniform) — skimage's crop.
//   mask : mean of the full, uncropped map S over the mask pixels.
//   bbox : images cropped to the mask's bounding box, then `full` on the crop.
// RGB is the plain mean of the three channel values. Images must be at least 11 (gaussian) or 7
// (uniform) pixels on each side.
//
// On the CPU a separable float64 kernel computes this directly (no moment maps are materialised);
// on other devices the same definition runs as float64 tensor operations.
#pragma once

#include <ATen/core/Tensor.h>

#include "metrics/pixel_options.h"

namespace osor::metrics {

enum class SsimWindow { Gaussian, Uniform };

struct SsimOptions {
  SsimWindow window = SsimWindow::Gaussian;
  PixelOptions pixels;
};

// pred, ref: [N,3,H,W] (uint8 or float in [0,1]); mask: [N,1,H,W] in {0,1}, required unless the region
// is full. Returns [N] float64 on the CPU.
at::Tensor ssim(const at::Tensor& pred, const at::Tensor& ref, const SsimOptions& options,
                const at::Tensor& mask = {});

// The full, uncropped SSIM map: [N,C,H,W] float64 (C = 3 for rgb, 1 for y), for inspection and galleries.
at::Tensor ssim_map(const at::Tensor& pred, const at::Tensor& ref, SsimWindow window, Channels channels);

}  // namespace osor::metrics
