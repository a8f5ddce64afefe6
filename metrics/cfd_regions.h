// The mask geometry of CFD (OmniPaint cfd_score/main.py), on bool [H,W] CPU tensors: the object's connected
// components, the SAM mask filter, the boundary/center split, the context ring, adjacency and the white-background
// crops. Each function says which statement of main.py it reproduces.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "metrics/mask_record.h"

namespace osor::metrics {

// cv2.connectedComponents(mask, connectivity 8) of mask != 0: one bool mask per component, in the order of each
// component's first pixel in raster order (OpenCV's label order).
std::vector<at::Tensor> connected_components8(const at::Tensor& mask);

// filter_masks: records sorted by descending `area` (stable), a record dropped when its IoU with a kept mask is
// > 0.8 or more than 0.9 of its own pixels lie in a kept mask. Returns the indices (into `records`) kept, in order.
std::vector<int64_t> filter_sam_masks(const std::vector<MaskRecord>& records, double iou_threshold = 0.8,
                                      double contain_threshold = 0.9);

// classify_masks: center when the mask lies inside the object (all S ≤ M), else boundary when it meets it.
struct MaskClasses {
  std::vector<int64_t> boundary, center;  // indices into the list given
};
MaskClasses classify_against_object(const std::vector<at::Tensor>& masks, const at::Tensor& object);

// The context ring: the object's bbox (PIL getbbox, right/bottom exclusive) grown by w//3, h//3 and clipped, drawn
// as PIL's inclusive rectangle (one pixel more on the right and bottom), XOR the object.
struct ContextRing {
  std::array<int64_t, 4> rectangle_lurb{};  // inclusive, as passed to ImageDraw.rectangle
  at::Tensor mask;                          // bool [H,W]
};
ContextRing context_ring(const at::Tensor& object);

// is_adjacent: both masks dilated by a 5×5 square three times (a 13×13 square) meet the other. The relation is
// symmetric (a pixel pair within Chebyshev distance 6), so one dilation decides it (meets_dilated).
bool masks_adjacent(const at::Tensor& a, const at::Tensor& b);
// cv2.dilate(mask, ones(5,5), iterations=3): bool [H,W], the outside of the image ignored.
at::Tensor dilate_square13(const at::Tensor& mask);
bool meets_dilated(const at::Tensor& dilated_a, const at::Tensor& b);

// crop_masked_region: pixels outside the mask become white, then both are cropped to the mask's bounding rect.
struct MaskedCrop {
  at::Tensor image;                    // uint8 [3,h,w]
  at::Tensor mask;                     // bool [h,w]
  std::array<int64_t, 4> box_xywh{};   // cv2.boundingRect
};
MaskedCrop crop_masked_region(const at::Tensor& mask, const at::Tensor& image_u8);

}  // namespace osor::metrics
