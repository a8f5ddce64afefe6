#include "metrics/mmd.h"

#include <ATen/ATen.h>

#include "metrics/error.h"

namespace osor::metrics {
namespace {

// Mean of exp(-γ(|a|² + |b|² - 2 a·b)) over all rows a of x and b of y, summed in double.
double kernel_mean(const at::Tensor& x, const at::Tensor& y, const at::Tensor& x_sq, const at::Tensor& y_sq,
                   double gamma) {
  const at::Tensor d2 = x_sq.unsqueeze(1) + y_sq.unsqueeze(0) - 2 * at::mm(x, y.t());
  const at::Tensor k = at::exp(d2 * (-gamma));
  return k.sum(at::kDouble).item<double>() / static_cast<double>(k.numel());
}

}  // namespace

double mmd(const at::Tensor& x, const at::Tensor& y, const MmdOptions& options) {
  if (x.dim() != 2 || y.dim() != 2)
    throw MetricError("MMD: embeddings must be [N,D] and [M,D]");
  if (x.size(1) != y.size(1))
    throw MetricError("MMD: embedding dimensions differ (" + std::to_string(x.size(1)) + " vs " +
                      std::to_string(y.size(1)) + ")");
  if (x.size(0) < 1 || y.size(0) < 1) throw MetricError("MMD: an embedding set is empty");
  if (!x.is_floating_point() || !y.is_floating_point()) throw MetricError("MMD: embeddings must be floating point");
  const auto dtype = options.precision == MmdPrecision::Float64 ? at::kDouble : at::kFloat;
  const at::Tensor a = x.to(dtype).contiguous();
  const at::Tensor b = y.to(a.device(), dtype).contiguous();
  // diag(x xᵀ) as the reference computes it: a row-wise dot product in the kernel dtype.
  const at::Tensor a_sq = (a * a).sum(1);
  const at::Tensor b_sq = (b * b).sum(1);
  const double gamma = 1.0 / (2.0 * options.sigma * options.sigma);
  const double k_xx = kernel_mean(a, a, a_sq, a_sq, gamma);
  const double k_yy = kernel_mean(b, b, b_sq, b_sq, gamma);
  const double k_xy = kernel_mean(a, b, a_sq, b_sq, gamma);
  return options.scale * (k_xx + k_yy - 2.0 * k_xy);
}

}  // namespace osor::metrics
