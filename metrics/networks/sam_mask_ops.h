// The mask and box operations of segment-anything's automatic mask generator (segment_anything/utils/amg.py) and
// torchvision's box NMS as the generator calls them. Semantics follow the reference statement by statement; the
// comments name the pitfalls that change records.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace osor::metrics {

// build_point_grid(n): [n², 2] float64 in (0,1), x fastest.
at::Tensor sam_point_grid(int64_t n_per_side);

// generate_crop_boxes: [0,0,W,H] then the layers' overlapping crops (x0 outer, y0 inner), with each box's layer.
std::vector<std::pair<std::array<int64_t, 4>, int64_t>> sam_crop_boxes(int64_t h, int64_t w, int64_t n_layers, double overlap_ratio);

// calculate_stability_score: count(logit > t + offset) / count(logit > t − offset), float32 ([N,H,W] → [N]).
at::Tensor sam_stability_score(const at::Tensor& logits, double mask_threshold, double offset);

// batched_mask_to_box: inclusive (x0, y0, x1, y1) of each mask [N,H,W], [0,0,0,0] when empty; int64 [N,4].
at::Tensor sam_mask_boxes(const at::Tensor& masks);

// is_box_near_crop_edge (atol 20): boxes [N,4] in the crop frame → bool [N].
at::Tensor sam_box_near_crop_edge(const at::Tensor& boxes, const std::array<int64_t, 4>& crop_box,
                                  const std::array<int64_t, 4>& orig_box, double atol = 20.0);

// torchvision.ops.nms on float32 boxes: greedy in descending score order (stable for ties), area (x1−x0)·(y1−y0)
// of the given (inclusive) boxes, suppress IoU > threshold. Returns the kept indices in descending score order.
std::vector<int64_t> box_nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

// remove_small_regions(mask, area, mode): "holes" fills background components smaller than `area`; "islands"
// removes foreground components smaller than it (keeping the largest when all are). Returns the mask, changed.
std::pair<at::Tensor, bool> sam_remove_small_regions(const at::Tensor& mask, double area, bool holes);

}  // namespace osor::metrics
