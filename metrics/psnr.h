// PSNR, as scikit-image 0.19 `peak_signal_noise_ratio(ref, pred, data_range=255)` computes it.
//
//   PSNR = 10 log10(255^2 / MSE),  MSE = mean((ref - pred)^2) in float64 over the 8-bit values
//
// Per image (never the pooled MSE of a batch, which is what torchmetrics returns by default).
// Regions (see pixel_options.h): `full` averages over all H*W*C values; `mask` over the C*|M| values
// under the mask; `bbox` over the mask's bounding box. Identical images give +inf.
#pragma once

#include <ATen/core/Tensor.h>

#include "metrics/pixel_options.h"

namespace osor::metrics {

// pred, ref: [N,3,H,W] (uint8, or float in [0,1]); mask: [N,1,H,W] in {0,1}, required unless region
// is full. Returns [N] float64 on the CPU.
at::Tensor psnr(const at::Tensor& pred, const at::Tensor& ref, const PixelOptions& options,
                const at::Tensor& mask = {});

}  // namespace osor::metrics
