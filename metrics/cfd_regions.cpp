#include "metrics/cfd_regions.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <string>

#include "metrics/connected_components.h"
#include "metrics/error.h"

namespace osor::metrics {

namespace {

at::Tensor as_bool_2d(const at::Tensor& mask, const char* what) {
  if (mask.dim() != 2) throw MetricError(std::string(what) + ": expected a [H,W] mask, got " + std::to_string(mask.dim()) + " dimensions");
  return mask.to(at::kCPU).ne(0).contiguous();
}

int64_t count(const at::Tensor& m) { return m.sum().item<int64_t>(); }

}  // namespace

std::vector<at::Tensor> connected_components8(const at::Tensor& mask) {
  const ComponentLabels c = label_components8(as_bool_2d(mask, "connected components"));
  std::vector<at::Tensor> components;
  for (size_t i = 0; i < c.sizes.size(); ++i) components.push_back(c.labels.eq(static_cast<int32_t>(i + 1)));
  return components;
}

std::vector<int64_t> filter_sam_masks(const std::vector<MaskRecord>& records, double iou_threshold,
                                      double contain_threshold) {
  std::vector<int64_t> order(records.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return records[a].area > records[b].area; });
  std::vector<int64_t> kept;
  std::vector<at::Tensor> kept_masks;
  for (int64_t i : order) {
    const at::Tensor s = records[i].segmentation.to(at::kBool);
    const int64_t area = count(s);
    bool keep = true;
    for (const at::Tensor& k : kept_masks) {
      const int64_t inter = count(s.logical_and(k)), uni = count(s.logical_or(k));
      const double iou = uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
      const bool contained = area > 0 && static_cast<double>(inter) / static_cast<double>(area) > contain_threshold;
      if (iou > iou_threshold || contained) {
        keep = false;
        break;
      }
    }
    if (keep) {
      kept.push_back(i);
      kept_masks.push_back(s);
    }
  }
  return kept;
}

MaskClasses classify_against_object(const std::vector<at::Tensor>& masks, const at::Tensor& object) {
  const at::Tensor m = as_bool_2d(object, "classify masks");
  MaskClasses c;
  for (size_t i = 0; i < masks.size(); ++i) {
    const at::Tensor s = masks[i].to(at::kBool);
    if (s.sizes() != m.sizes()) throw MetricError("classify masks: a SAM mask and the object mask differ in size");
    if (!s.logical_and(m.logical_not()).any().item<bool>())
      c.center.push_back(static_cast<int64_t>(i));
    else if (s.logical_and(m).any().item<bool>())
      c.boundary.push_back(static_cast<int64_t>(i));
  }
  return c;
}

ContextRing context_ring(const at::Tensor& object) {
  const at::Tensor m = as_bool_2d(object, "context ring");
  const int64_t h = m.size(0), w = m.size(1);
  const at::Tensor rows = m.any(1).nonzero(), cols = m.any(0).nonzero();
  if (rows.numel() == 0) throw MetricError("context ring: the object mask is empty");
  int64_t left = cols.min().item<int64_t>(), right = cols.max().item<int64_t>() + 1;
  int64_t upper = rows.min().item<int64_t>(), lower = rows.max().item<int64_t>() + 1;
  const int64_t bw = right - left, bh = lower - upper;
  left = std::max<int64_t>(0, left - bw / 3);
  right = std::min(w, right + bw / 3);
  upper = std::max<int64_t>(0, upper - bh / 3);
  lower = std::min(h, lower + bh / 3);
  ContextRing ring;
  ring.rectangle_lurb = {left, upper, right, lower};
  at::Tensor rect = at::zeros({h, w}, at::kBool);
  rect.slice(0, upper, std::min(h, lower + 1)).slice(1, left, std::min(w, right + 1)).fill_(true);
  ring.mask = rect.logical_xor(m);
  return ring;
}

at::Tensor dilate_square13(const at::Tensor& mask) {
  // Separable max pooling with -inf padding = cv2's dilation with the default border (outside ignored).
  const at::Tensor f = as_bool_2d(mask, "dilation").to(at::kFloat).unsqueeze(0).unsqueeze(0);
  const at::Tensor rows = at::max_pool2d(f, {13, 1}, {1, 1}, {6, 0});
  return at::max_pool2d(rows, {1, 13}, {1, 1}, {0, 6})[0][0].gt(0);
}

bool meets_dilated(const at::Tensor& dilated_a, const at::Tensor& b) {
  return dilated_a.logical_and(b.to(at::kCPU).ne(0)).any().item<bool>();
}

bool masks_adjacent(const at::Tensor& a, const at::Tensor& b) {
  return meets_dilated(dilate_square13(a), b) || meets_dilated(dilate_square13(b), a);
}

MaskedCrop crop_masked_region(const at::Tensor& mask, const at::Tensor& image_u8) {
  const at::Tensor m = as_bool_2d(mask, "masked crop");
  if (image_u8.dim() != 3 || image_u8.size(0) != 3 || image_u8.size(1) != m.size(0) || image_u8.size(2) != m.size(1))
    throw MetricError("masked crop: the image is not [3,H,W] of the mask's size");
  const at::Tensor rows = m.any(1).nonzero(), cols = m.any(0).nonzero();
  MaskedCrop c;
  if (rows.numel() == 0) throw MetricError("masked crop: the mask is empty");
  const int64_t x = cols.min().item<int64_t>(), y = rows.min().item<int64_t>();
  const int64_t cw = cols.max().item<int64_t>() + 1 - x, ch = rows.max().item<int64_t>() + 1 - y;
  c.box_xywh = {x, y, cw, ch};
  const at::Tensor white = at::full_like(image_u8, 255);
  const at::Tensor result = at::where(m.unsqueeze(0), image_u8.to(at::kCPU), white);
  c.image = result.slice(1, y, y + ch).slice(2, x, x + cw).contiguous();
  c.mask = m.slice(0, y, y + ch).slice(1, x, x + cw).contiguous();
  return c;
}

}  // namespace osor::metrics
