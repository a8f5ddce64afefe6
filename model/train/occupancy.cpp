#include "model/train/occupancy.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "model/error.h"

namespace osor::model::train {
namespace {

// F.interpolate(mode='nearest') source rows: PyTorch computes the scale in float32 and floors dst · scale.
at::Tensor nearest_indices(int64_t in, int64_t out, bool exact) {
  std::vector<int64_t> idx(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t d = 0; d < out; ++d) {
    const double src = exact ? std::floor((static_cast<double>(d) + 0.5) * scale)
                             : std::floor(static_cast<float>(d) * scale);
    idx[d] = std::min(static_cast<int64_t>(src), in - 1);
  }
  return at::tensor(idx, at::kLong);
}

at::Tensor nearest(const at::Tensor& m, int64_t h, int64_t w, bool exact) {
  const auto rows = nearest_indices(m.size(2), h, exact).to(m.device());
  const auto cols = nearest_indices(m.size(3), w, exact).to(m.device());
  return m.index_select(2, rows).index_select(3, cols);
}

// scipy.ndimage.gaussian_filter1d's kernel: exp(−k²/2σ²), k = −r..r with r = int(truncate·σ + 0.5), normalised.
at::Tensor gaussian_kernel(double sigma, double truncate, const at::TensorOptions& options) {
  const int64_t r = static_cast<int64_t>(truncate * sigma + 0.5);
  std::vector<double> k(2 * r + 1);
  double sum = 0;
  for (int64_t i = -r; i <= r; ++i) sum += k[i + r] = std::exp(-0.5 * (i * i) / (sigma * sigma));
  for (auto& v : k) v /= sum;
  return at::tensor(k, at::kDouble).to(options);
}

// Indices of x padded by r along a dimension of size n: clamped (edge replication) or n for "outside" (zeros).
at::Tensor padded_indices(int64_t n, int64_t r, bool replicate) {
  std::vector<int64_t> idx(n + 2 * r);
  for (int64_t i = 0; i < n + 2 * r; ++i) {
    const int64_t s = i - r;
    idx[i] = replicate ? std::min(std::max<int64_t>(s, 0), n - 1) : (s < 0 || s >= n ? n : s);
  }
  return at::tensor(idx, at::kLong);
}

// Separable Gaussian along H then W (scipy filters axis 0 first), as a correlation with the symmetric kernel.
at::Tensor gaussian_blur(const at::Tensor& x, double sigma, double truncate, bool replicate) {
  const auto k = gaussian_kernel(sigma, truncate, x.options());
  const int64_t r = (k.size(0) - 1) / 2;
  at::Tensor y = x;
  for (int dim : {2, 3}) {
    const int64_t n = y.size(dim);
    at::Tensor src = y;
    if (!replicate) {  // one extra zero row/column that the "outside" indices point at
      auto zshape = y.sizes().vec();
      zshape[dim] = 1;
      src = at::cat({y, at::zeros(zshape, y.options())}, dim);
    }
    const auto padded = src.index_select(dim, padded_indices(n, r, replicate).to(y.device()));
    const auto weight = dim == 2 ? k.view({1, 1, -1, 1}) : k.view({1, 1, 1, -1});
    const int64_t c = padded.size(1);
    y = at::conv2d(padded, weight.expand({c, 1, weight.size(2), weight.size(3)}).contiguous(), at::Tensor(), at::IntArrayRef{1, 1},
                   at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, c);
  }
  return y;
}

}  // namespace

OccupancyMethod parse_occupancy_method(const std::string& name) {
  if (name == "area_adaptive_avg_pool2d" || name == "area_interpolate" || name == "area") return OccupancyMethod::Area;
  if (name == "max_adaptive_max_pool2d") return OccupancyMethod::Max;
  if (name == "nearest") return OccupancyMethod::Nearest;
  if (name == "nearest_exact") return OccupancyMethod::NearestExact;
  if (name == "bilinear_align_corners_false") return OccupancyMethod::Bilinear;
  if (name == "gauss_px_then_area") return OccupancyMethod::GaussPixelsThenArea;
  if (name == "area_then_gauss_cell") return OccupancyMethod::AreaThenGaussCells;
  throw ModelError("occupancy method '" + name +
                   "' is unknown (known: area, area_adaptive_avg_pool2d, area_interpolate, max_adaptive_max_pool2d, "
                   "nearest, nearest_exact, bilinear_align_corners_false, gauss_px_then_area, area_then_gauss_cell)");
}

at::Tensor occupancy_target(const at::Tensor& mask, int64_t h, int64_t w, const OccupancyOptions& options) {
  if (mask.dim() != 4 || mask.size(1) != 1)
    throw ModelError("occupancy_target: mask must be [B,1,H,W], got " + c10::str(mask.sizes()));
  if (h <= 0 || w <= 0) throw ModelError("occupancy_target: grid " + std::to_string(h) + "x" + std::to_string(w) + " is empty");
  at::Tensor grid;
  switch (options.method) {
    case OccupancyMethod::Area: grid = at::adaptive_avg_pool2d(mask, {h, w}); break;
    case OccupancyMethod::Max: grid = std::get<0>(at::adaptive_max_pool2d(mask, {h, w})); break;
    case OccupancyMethod::Nearest: grid = nearest(mask, h, w, false); break;
    case OccupancyMethod::NearestExact: grid = nearest(mask, h, w, true); break;
    case OccupancyMethod::Bilinear: grid = at::upsample_bilinear2d(mask, {h, w}, false); break;
    case OccupancyMethod::GaussPixelsThenArea:
      grid = at::adaptive_avg_pool2d(gaussian_blur(mask, options.sigma_px, options.truncate_px, false), {h, w});
      break;
    case OccupancyMethod::AreaThenGaussCells:
      grid = gaussian_blur(at::adaptive_avg_pool2d(mask, {h, w}), options.sigma_cell, options.truncate_cell, true);
      break;
  }
  return grid.squeeze(1);
}

}  // namespace osor::model::train
