#include "metrics/cfd_features.h"

#include <ATen/ATen.h>

#include <string>

#include "metrics/error.h"
#include "metrics/resize.h"

namespace osor::metrics {

namespace {

at::Tensor normalized_rows(const at::Tensor& tokens) {
  const at::Tensor t = tokens.to(at::kCPU, at::kDouble);
  return t / t.norm(2, -1, true);
}

}  // namespace

const char* to_string(CfdMode mode) { return mode == CfdMode::Official ? "official" : "corrected"; }

CfdMode cfd_mode_from_string(const std::string& text) {
  if (text == "official") return CfdMode::Official;
  if (text == "corrected") return CfdMode::Corrected;
  throw MetricError("CFD mode '" + text + "' is not known (official, corrected)");
}

std::vector<int64_t> OfficialIndex::rows() const {
  std::vector<int64_t> rows;
  for (size_t k = 0; k < values.size(); ++k) {
    if (!is_bool)
      rows.push_back(values[k]);
    else if (values[k])
      rows.push_back(static_cast<int64_t>(k));
  }
  return rows;
}

at::Tensor official_mask_224(const at::Tensor& mask, bool as_l_image, bool default_filter, int64_t frame) {
  if (mask.dim() != 2) throw MetricError("CFD: expected a [H,W] mask");
  const at::Tensor m = mask.to(at::kCPU).ne(0).to(at::kByte).mul(as_l_image ? 255 : 1).unsqueeze(0);
  // Pillow's default resize filter is NEAREST for mode "1" and BICUBIC for mode "L".
  const at::Tensor m224 = default_filter && as_l_image ? pil_resize_u8(m, frame, frame, PilFilter::Bicubic)
                                                        : pil_resize_nearest_u8(m, frame, frame);
  return m224[0];
}

OfficialIndex official_index(const at::Tensor& mask, bool as_l_image, bool default_filter, int64_t frame, int64_t grid) {
  const at::Tensor m224 = official_mask_224(mask, as_l_image, default_filter, frame).unsqueeze(0);
  const at::Tensor cells = pil_resize_nearest_u8(m224, grid, grid).flatten().to(at::kLong).contiguous();
  OfficialIndex index;
  index.is_bool = !as_l_image;
  index.values.assign(cells.data_ptr<int64_t>(), cells.data_ptr<int64_t>() + cells.numel());
  index.values.push_back(1);  // np.append(mask, True)
  return index;
}

at::Tensor corrected_cell_weights(const at::Tensor& mask, int64_t grid) {
  if (mask.dim() != 2) throw MetricError("CFD: expected a [H,W] mask");
  const int64_t h = mask.size(0), w = mask.size(1);
  const at::Tensor ys = at::arange(h, at::kLong), xs = at::arange(w, at::kLong);
  const at::Tensor ci = at::floor_divide((2 * ys + 1) * grid, 2 * h), cj = at::floor_divide((2 * xs + 1) * grid, 2 * w);
  const at::Tensor cell = (ci.unsqueeze(1) * grid + cj.unsqueeze(0)).flatten();
  const at::Tensor ones = at::ones({h * w}, at::kDouble);
  const at::Tensor pixels = at::zeros({grid * grid}, at::kDouble).index_add_(0, cell, ones);
  const at::Tensor inside = at::zeros({grid * grid}, at::kDouble).index_add_(0, cell, mask.to(at::kCPU).ne(0).flatten().to(at::kDouble));
  // A cell without pixels (mask smaller than the grid) has no weight.
  return at::where(pixels.gt(0), inside / pixels.clamp_min(1), at::zeros_like(pixels)).view({grid, grid});
}

at::Tensor official_region_feature(const at::Tensor& tokens, const OfficialIndex& index) {
  if (tokens.dim() != 2 || tokens.size(0) != static_cast<int64_t>(index.values.size()))
    throw MetricError("CFD: " + std::to_string(tokens.size(0)) + " tokens for an index of " + std::to_string(index.values.size()));
  const std::vector<int64_t> rows = index.rows();
  if (rows.empty()) throw MetricError("CFD: the region selects no token");
  const at::Tensor f = normalized_rows(tokens).index_select(0, at::tensor(rows, at::kLong)).mean(0);
  return f / f.norm();
}

at::Tensor corrected_region_feature(const at::Tensor& tokens, const at::Tensor& cell_weights) {
  const int64_t cells = cell_weights.numel();
  if (tokens.dim() != 2 || tokens.size(0) != cells + 1)
    throw MetricError("CFD: " + std::to_string(tokens.size(0)) + " tokens for " + std::to_string(cells) + " cells");
  const at::Tensor w = cell_weights.to(at::kDouble).flatten();
  const double total = w.sum().item<double>();
  if (!(total > 0)) throw MetricError("CFD (corrected): the region covers no cell");
  const at::Tensor f = (normalized_rows(tokens).slice(0, 1) * w.unsqueeze(1)).sum(0) / total;
  return f / f.norm();
}

double feature_deviation(const at::Tensor& f1, const at::Tensor& f2) { return 1.0 - f1.dot(f2).item<double>(); }

}  // namespace osor::metrics
