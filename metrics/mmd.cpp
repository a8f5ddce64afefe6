#include "metrics/mmd.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

#include "metrics/error.h"

namespace osor::metrics {
namespace {

// A NaN or Inf embedding makes every kernel value it touches NaN, and the MMD comes out NaN with no error: refuse
// it, saying how many values and where the first one is. `which` names the set ("first", "second").
void require_finite(const at::Tensor& embeddings, const std::string& which) {
  const at::Tensor bad = at::isfinite(embeddings).logical_not();
  const int64_t count = bad.sum().item<int64_t>();
  if (count == 0) return;
  const at::Tensor index = at::nonzero(bad)[0].to(at::kCPU);  // nonzero lists positions in row-major order
  const int64_t row = index[0].item<int64_t>(), column = index[1].item<int64_t>();
  const double v = embeddings[row][column].item<double>();
  std::ostringstream s;
  s << "MMD: the " << which << " embedding set has " << count << " non-finite value" << (count == 1 ? "" : "s")
    << " (first: " << (std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") << " at row " << row << ", column " << column
    << " of [" << embeddings.size(0) << "," << embeddings.size(1) << "])";
  throw MetricError(s.str());
}

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
  require_finite(x, "first");
  require_finite(y, "second");
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
