#include "metrics/networks/sam_mask_ops.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "metrics/connected_components.h"
#include "metrics/error.h"

namespace osor::metrics {

at::Tensor sam_point_grid(int64_t n) {
  if (n <= 0) throw MetricError("SAM mask generator: points per side must be positive");
  const double offset = 1.0 / (2.0 * static_cast<double>(n));
  // np.linspace(offset, 1 − offset, n): start + i·step, the last point exactly the stop.
  std::vector<double> side(static_cast<size_t>(n));
  const double step = n > 1 ? (1.0 - offset - offset) / static_cast<double>(n - 1) : 0.0;
  for (int64_t i = 0; i < n; ++i) side[static_cast<size_t>(i)] = offset + static_cast<double>(i) * step;
  if (n > 1) side.back() = 1.0 - offset;
  at::Tensor grid = at::empty({n * n, 2}, at::kDouble);
  double* g = grid.data_ptr<double>();
  for (int64_t y = 0; y < n; ++y)
    for (int64_t x = 0; x < n; ++x) {
      g[2 * (y * n + x)] = side[static_cast<size_t>(x)];
      g[2 * (y * n + x) + 1] = side[static_cast<size_t>(y)];
    }
  return grid;
}

std::vector<std::pair<std::array<int64_t, 4>, int64_t>> sam_crop_boxes(int64_t h, int64_t w, int64_t n_layers, double overlap_ratio) {
  std::vector<std::pair<std::array<int64_t, 4>, int64_t>> boxes{{{0, 0, w, h}, 0}};
  const int64_t short_side = std::min(h, w);
  auto crop_len = [](int64_t orig, int64_t n, int64_t overlap) {
    return static_cast<int64_t>(std::ceil(static_cast<double>(overlap * (n - 1) + orig) / static_cast<double>(n)));
  };
  for (int64_t layer = 0; layer < n_layers; ++layer) {
    const int64_t n = int64_t{2} << layer;
    const int64_t overlap = static_cast<int64_t>(overlap_ratio * static_cast<double>(short_side) * (2.0 / static_cast<double>(n)));
    const int64_t cw = crop_len(w, n, overlap), ch = crop_len(h, n, overlap);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t x0 = (cw - overlap) * i, y0 = (ch - overlap) * j;
        boxes.push_back({{x0, y0, std::min(x0 + cw, w), std::min(y0 + ch, h)}, layer + 1});
      }
  }
  return boxes;
}

at::Tensor sam_stability_score(const at::Tensor& logits, double mask_threshold, double offset) {
  // The reference sums rows in int16 and totals in int32; both are exact here, and int32/int32 divides in float32.
  const at::Tensor inter = logits.gt(mask_threshold + offset).sum({-1, -2}, false, at::kInt);
  const at::Tensor uni = logits.gt(mask_threshold - offset).sum({-1, -2}, false, at::kInt);
  return inter.to(at::kFloat) / uni.to(at::kFloat);
}

at::Tensor sam_mask_boxes(const at::Tensor& masks) {
  const int64_t n = masks.size(0), h = masks.size(1), w = masks.size(2);
  if (n == 0) return at::zeros({0, 4}, masks.options().dtype(at::kLong));
  const at::Tensor rows = std::get<0>(masks.max(-1)), cols = std::get<0>(masks.max(-2));  // [N,H], [N,W]
  auto edges = [](const at::Tensor& in, int64_t len) {
    const at::Tensor coords = in.to(at::kLong) * at::arange(len, in.options().dtype(at::kLong)).unsqueeze(0);
    const at::Tensor last = std::get<0>(coords.max(-1));
    const at::Tensor first = std::get<0>((coords + len * in.logical_not().to(at::kLong)).min(-1));
    return std::make_pair(first, last);
  };
  const auto [top, bottom] = edges(rows, h);
  const auto [left, right] = edges(cols, w);
  const at::Tensor empty = right.lt(left).logical_or(bottom.lt(top));
  return at::stack({left, top, right, bottom}, -1) * empty.logical_not().to(at::kLong).unsqueeze(-1);
}

at::Tensor sam_box_near_crop_edge(const at::Tensor& boxes, const std::array<int64_t, 4>& crop_box,
                                  const std::array<int64_t, 4>& orig_box, double atol) {
  const auto opts = boxes.options().dtype(at::kFloat);
  const at::Tensor crop = at::tensor(std::vector<float>(crop_box.begin(), crop_box.end()), opts).unsqueeze(0);
  const at::Tensor orig = at::tensor(std::vector<float>(orig_box.begin(), orig_box.end()), opts).unsqueeze(0);
  const at::Tensor offset = at::tensor(std::vector<int64_t>{crop_box[0], crop_box[1], crop_box[0], crop_box[1]}, boxes.options().dtype(at::kLong));
  const at::Tensor b = (boxes + offset.unsqueeze(0)).to(at::kFloat);
  // torch.isclose(atol, rtol=0): |a − b| <= atol.
  const at::Tensor near_crop = (b - crop).abs().le(atol), near_image = (b - orig).abs().le(atol);
  return near_crop.logical_and(near_image.logical_not()).any(1);
}

std::vector<int64_t> box_nms(const at::Tensor& boxes_in, const at::Tensor& scores_in, double iou_threshold) {
  const at::Tensor boxes = boxes_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor scores = scores_in.to(at::kCPU, at::kFloat).contiguous();
  const int64_t n = boxes.size(0);
  const float* b = boxes.data_ptr<float>();
  const float* s = scores.data_ptr<float>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return s[i] > s[j]; });
  std::vector<float> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  std::vector<char> suppressed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = order[oj];
      if (suppressed[j]) continue;
      const float xx1 = std::max(b[4 * i], b[4 * j]), yy1 = std::max(b[4 * i + 1], b[4 * j + 1]);
      const float xx2 = std::min(b[4 * i + 2], b[4 * j + 2]), yy2 = std::min(b[4 * i + 3], b[4 * j + 3]);
      const float inter = std::max(0.0f, xx2 - xx1) * std::max(0.0f, yy2 - yy1);
      const float ovr = inter / (area[i] + area[j] - inter);
      if (static_cast<double>(ovr) > iou_threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

std::pair<at::Tensor, bool> sam_remove_small_regions(const at::Tensor& mask, double area, bool holes) {
  const at::Tensor m = mask.to(at::kCPU, at::kBool);
  const ComponentLabels c = label_components8(holes ? m.logical_not() : m);
  std::vector<int32_t> small;
  for (size_t i = 0; i < c.sizes.size(); ++i)
    if (static_cast<double>(c.sizes[i]) < area) small.push_back(static_cast<int32_t>(i + 1));
  if (small.empty()) return {m, false};
  std::vector<int32_t> fill{0};
  fill.insert(fill.end(), small.begin(), small.end());
  if (!holes) {
    std::vector<int32_t> kept;
    for (int32_t l = 0; l <= static_cast<int32_t>(c.sizes.size()); ++l)
      if (std::find(fill.begin(), fill.end(), l) == fill.end()) kept.push_back(l);
    if (kept.empty()) kept.push_back(static_cast<int32_t>(std::max_element(c.sizes.begin(), c.sizes.end()) - c.sizes.begin()) + 1);
    fill = kept;
  }
  return {at::isin(c.labels, at::tensor(fill, at::kInt)), true};
}

}  // namespace osor::metrics
