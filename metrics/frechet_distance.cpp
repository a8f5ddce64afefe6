#include "metrics/frechet_distance.h"

#include <ATen/ATen.h>

#include <Eigen/Dense>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <utility>

#include "metrics/error.h"
#include "model/log.h"

namespace osor::metrics {
namespace {

struct SqrtTrace {
  double trace = 0;
  double max_imaginary = 0;
  bool finite = true;
};

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Map<const RowMatrix> as_matrix(const at::Tensor& t) { return {t.data_ptr<double>(), t.size(0), t.size(1)}; }

// Six significant digits, as %g: 2 reads "2" and 0.0015 "0.0015" (std::to_string would give "2.000000").
std::string number(double v) {
  std::ostringstream s;
  s << std::setprecision(6) << v;
  return s.str();
}

// Empty when every value of `t` is finite; otherwise how many are not, and the first one (row-major) with its
// position and the tensor's shape.
std::string non_finite_summary(const at::Tensor& t) {
  const at::Tensor bad = at::isfinite(t).logical_not();
  const int64_t count = bad.sum().item<int64_t>();
  if (count == 0) return {};
  const at::Tensor index = at::nonzero(bad)[0].to(at::kCPU);  // nonzero lists positions in row-major order
  at::Tensor first = t;
  for (int64_t k = 0; k < index.size(0); ++k) first = first[index[k].item<int64_t>()];
  const double v = first.item<double>();
  std::ostringstream s;
  s << count << " non-finite value" << (count == 1 ? "" : "s") << " (first: "
    << (std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
  if (t.dim() == 2) s << " at row " << index[0].item<int64_t>() << ", column " << index[1].item<int64_t>();
  if (t.dim() == 1) s << " at index " << index[0].item<int64_t>();
  s << " of [";
  for (int64_t k = 0; k < t.dim(); ++k) s << (k ? "," : "") << t.size(k);
  s << "])";
  return s.str();
}

// Shapes, and every value finite: a NaN covariance keeps Eigen's eigensolver busy for minutes at D = 2048 before
// it reports failure, and a NaN mean would come out as a NaN distance with no error at all.
void check_statistics(const GaussianStatistics& s, const std::string& fallback_name) {
  if (!s.mean.defined() || !s.covariance.defined() || s.mean.dim() != 1 || s.covariance.dim() != 2 ||
      s.covariance.size(0) != s.mean.size(0) || s.covariance.size(1) != s.mean.size(0))
    throw MetricError("Fréchet distance: statistics must be a [D] mean and a [D,D] covariance");
  const std::string& name = s.label.empty() ? fallback_name : s.label;
  const std::pair<const char*, at::Tensor> parts[] = {
      {"mean", s.mean}, {"covariance", s.covariance}, {"low-rank factor", s.factor}};
  for (const auto& [what, t] : parts) {
    if (!t.defined()) continue;
    const std::string bad = non_finite_summary(t);
    if (!bad.empty()) throw MetricError("Fréchet distance: " + name + ": " + what + " has " + bad);
  }
}

// Σ sqrt(λ) over the eigenvalues of a symmetric PSD matrix (lower triangle read); negative ones are rounding
// noise of zero eigenvalues: they contribute 0 and bound the imaginary part scipy's sqrtm would show.
SqrtTrace sum_sqrt_eigenvalues(const Eigen::MatrixXd& m) {
  SqrtTrace out;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(m, Eigen::EigenvaluesOnly);
  if (eig.info() != Eigen::Success) {
    out.finite = false;
    return out;
  }
  for (Eigen::Index i = 0; i < eig.eigenvalues().size(); ++i) {
    const double l = eig.eigenvalues()[i];
    if (!std::isfinite(l)) {
      out.finite = false;
      return out;
    }
    if (l > 0)
      out.trace += std::sqrt(l);
    else
      out.max_imaginary = std::max(out.max_imaginary, std::sqrt(-l));
  }
  return out;
}

// tr sqrtm(S1 S2) = Σ sqrt(λ(C)), C = sqrt(S1) S2 sqrt(S1): two symmetric eigen-solutions in float64.
SqrtTrace sqrt_product_trace(const Eigen::MatrixXd& s1, const Eigen::MatrixXd& s2) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig1(s1, Eigen::ComputeEigenvectors);
  if (eig1.info() != Eigen::Success || !eig1.eigenvalues().allFinite()) return {0, 0, false};
  const Eigen::VectorXd root = eig1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Eigen::MatrixXd sqrt_s1 = eig1.eigenvectors() * root.asDiagonal() * eig1.eigenvectors().transpose();
  return sum_sqrt_eigenvalues(sqrt_s1 * s2 * sqrt_s1);
}

// The same eigenvalues from the low-rank factors S = Fᵀ F (F = centred features / sqrt(N-1), N < D): the nonzero
// eigenvalues of S1 S2 = F1ᵀ F1 F2ᵀ F2 are those of (F1 F2ᵀ)(F1 F2ᵀ)ᵀ, an N1×N1 matrix (or, with one factor,
// of F1 S2 F1ᵀ). The D - N zero eigenvalues are never formed, so their rounding noise (scipy: ±1e-12, whose
// square roots add up) is absent, and d = 2048 with a few hundred images takes milliseconds, not minutes.
SqrtTrace sqrt_product_trace_low_rank(const at::Tensor& f1, const at::Tensor& f2, const Eigen::MatrixXd& s2) {
  const auto a = as_matrix(f1);
  if (f2.defined()) {
    const auto b = as_matrix(f2);
    const Eigen::MatrixXd cross = a * b.transpose();
    return cross.rows() <= cross.cols() ? sum_sqrt_eigenvalues(cross * cross.transpose())
                                        : sum_sqrt_eigenvalues(cross.transpose() * cross);
  }
  return sum_sqrt_eigenvalues(a * s2 * a.transpose());
}

}  // namespace

void require_finite_features(const at::Tensor& features, const std::string& label) {
  const std::string bad = non_finite_summary(features);
  if (!bad.empty())
    throw MetricError("Fréchet distance: " + label + ": features have " + bad +
                      "; the statistics need finite features (a NaN pixel in an input, or an overflow in the "
                      "feature extractor?)");
}

GaussianStatistics gaussian_statistics(const at::Tensor& features, const std::string& label) {
  if (features.dim() != 2)
    throw MetricError(label + ": features must be [N,D], got " + std::to_string(features.dim()) + " dimensions");
  if (features.scalar_type() != at::kFloat && features.scalar_type() != at::kDouble)
    throw MetricError(label + ": features must be float32 or float64");
  const int64_t n = features.size(0), d = features.size(1);
  if (n < 2)
    throw MetricError(label + ": " + std::to_string(n) + " sample(s); a covariance needs at least 2");
  require_finite_features(features, label);  // before any statistic: NaN would only surface in the eigensolver
  if (n < d)
    osor::log::warn(label + ": " + std::to_string(n) + " samples for " + std::to_string(d) +
                    "-d features: the covariance is singular and FID is dominated by small-sample bias "
                    "(compare only at equal N)");
  // np.cov: subtract the mean, then Xcᵀ Xc / (N - 1), in float64.
  const at::Tensor x = features.to(at::kCPU, at::kDouble).contiguous();
  GaussianStatistics stats;
  stats.count = n;
  stats.label = label;
  stats.mean = x.mean(0);
  const at::Tensor factor = (x - stats.mean).div_(std::sqrt(static_cast<double>(n - 1))).contiguous();
  const auto f = as_matrix(factor);
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
  cov.selfadjointView<Eigen::Lower>().rankUpdate(f.transpose());
  cov.triangularView<Eigen::StrictlyUpper>() = cov.transpose();
  stats.covariance = at::empty({d, d}, at::kDouble);
  Eigen::Map<Eigen::MatrixXd>(stats.covariance.data_ptr<double>(), d, d) = cov;  // symmetric: either order
  if (n < d) stats.factor = factor;
  return stats;
}

SqrtmMethod parse_sqrtm_method(const std::string& name) {
  if (name == "sqrtm") return SqrtmMethod::Sqrtm;
  if (name == "eigh") return SqrtmMethod::Eigh;
  throw MetricError("unknown matrix square-root method '" + name + "' (known: sqrtm, eigh)");
}

std::string to_string(SqrtmMethod method) { return method == SqrtmMethod::Sqrtm ? "sqrtm" : "eigh"; }

FrechetTerms frechet_terms(const GaussianStatistics& a, const GaussianStatistics& b, SqrtmMethod method) {
  check_statistics(a, "first set");
  check_statistics(b, "second set");
  if (a.mean.size(0) != b.mean.size(0))
    throw MetricError("Fréchet distance: feature dimensions differ (" + std::to_string(a.mean.size(0)) + " vs " +
                      std::to_string(b.mean.size(0)) + ")");
  const at::Tensor mu1 = a.mean.to(at::kCPU, at::kDouble), mu2 = b.mean.to(at::kCPU, at::kDouble);
  const at::Tensor c1 = a.covariance.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor c2 = b.covariance.to(at::kCPU, at::kDouble).contiguous();
  Eigen::MatrixXd s1 = as_matrix(c1), s2 = as_matrix(c2);
  // The product's eigenvalues from whichever side has a low-rank factor (its rank is at most its N - 1).
  const bool low_rank = a.factor.defined() || b.factor.defined();
  const bool swap = !a.factor.defined() || (b.factor.defined() && b.factor.size(0) < a.factor.size(0));
  const GaussianStatistics& lo = swap ? b : a;
  const GaussianStatistics& hi = swap ? a : b;
  const auto compute = [&](const Eigen::MatrixXd& m1, const Eigen::MatrixXd& m2) {
    return low_rank ? sqrt_product_trace_low_rank(lo.factor, hi.factor, swap ? m1 : m2) : sqrt_product_trace(m1, m2);
  };

  FrechetTerms terms;
  terms.mean_term = (mu1 - mu2).pow(2).sum().item<double>();
  terms.trace1 = s1.trace();
  terms.trace2 = s2.trace();
  SqrtTrace root = compute(s1, s2);
  if (method == SqrtmMethod::Sqrtm) {
    if (!root.finite) {
      // pytorch-fid: "fid calculation produces singular product; adding 1e-6 to diagonal of cov estimates".
      const double eps = 1e-6;
      osor::log::warn("Fréchet distance: non-finite matrix square root; adding " + std::to_string(eps) +
                      " to the diagonal of both covariances (pytorch-fid's retry)");
      s1.diagonal().array() += eps;
      s2.diagonal().array() += eps;
      root = sqrt_product_trace(s1, s2);  // the offset makes both full rank
      terms.eps_offset_used = true;
    }
    if (root.max_imaginary > 1e-3)
      throw MetricError("Fréchet distance (FID): imaginary component " + number(root.max_imaginary) +
                        " in sqrtm(S1 S2), above the 1e-3 where pytorch-fid raises ValueError('Imaginary "
                        "component'): the covariances are not positive semi-definite");
  }
  if (!root.finite)
    throw MetricError("Fréchet distance: the eigen-solution of the covariances is not finite (non-finite features?)");
  terms.trace_sqrt = root.trace;
  terms.max_imaginary = root.max_imaginary;
  terms.value = terms.mean_term + terms.trace1 + terms.trace2 - 2.0 * terms.trace_sqrt;
  return terms;
}

double frechet_distance(const GaussianStatistics& a, const GaussianStatistics& b, SqrtmMethod method) {
  return frechet_terms(a, b, method).value;
}

}  // namespace osor::metrics
