// Maximum mean discrepancy as CMMD reports it (Jayasumana et al. 2024, google-research cmmd/distance.py;
// the same formula in sayakpaul/cmmd-pytorch):
//
//   k(a,b) = exp(-γ (|a|² + |b|² - 2 a·b)),  γ = 1/(2σ²), σ = 10  (|a|² = diag(x xᵀ), as the code does)
//   MMD    = 1000 · (mean K_xx + mean K_yy - 2 mean K_xy)
// The biased (V-statistic) estimator: each mean runs over all pairs, the diagonal i = j included.
//
// Precision:
//   Float32Kernel (default): Gram matrices and kernel values in float32, as the reference computes them,
//     and the three means accumulated in float64. The reference's all-float32 sums of ~10^5 values near 1
//     are what move its result (up to 4e-4 from the float64 value); double sums stay within 1e-6.
//   Float64: everything in float64 (conformance `mmd_f64` to 1e-9 relative).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace osor::metrics {

enum class MmdPrecision { Float32Kernel, Float64 };

struct MmdOptions {
  double sigma = 10;
  double scale = 1000;
  MmdPrecision precision = MmdPrecision::Float32Kernel;
};

// x: [N,D], y: [M,D], float32 or float64 (any device; computed where they are). N, M >= 1. Every value must be
// finite: a MetricError names the set (x: "first", y: "second"), the count of NaN/Inf values and the first one.
double mmd(const at::Tensor& x, const at::Tensor& y, const MmdOptions& options = {});

}  // namespace osor::metrics
