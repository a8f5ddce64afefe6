// CFD, OmniPaint's "context-aware feature deviation" (Yu et al., OmniPaint, 2025; cfd_score/main.py): a
// reference-free hallucination score of an object-removal result, lower is better. For every 8-connected component
// M of the object mask:
//   d0  = 1 − cos(DINOv2 feature of the hole M, feature of its context ring R)       (the ring: bbox grown by 1/3)
//   SAM's automatic masks of the result, filtered (IoU > 0.8 or > 0.9 contained → dropped), split into center masks
//   C_j (inside M) and boundary masks (meeting M, cut to M); for each C_j with adjacent boundary masks (13×13
//   dilation), d_j = 1 − cos(feature of the white-background crop of their union, feature of the crop of C_j);
//   value(M) = d0 + Σ_j |C_j| · d_j / Σ_all |C|   (the denominator also counts center masks without a term).
// Picture score = mean over components; CFD of a set = mean over pictures. An empty object mask is an error (the
// official code divides by zero).
// Modes (cfd_features.h): `official` keeps every quirk of the published code (token/mask off-by-one, integer
// indexing of the 0/255 crop masks, bicubic mask2, the processor's resize+crop misaligning tokens and masks);
// `corrected` aligns the tokens with area-weighted mask cells. Everything else is shared. docs/metrics.md has both.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metrics/cfd_features.h"
#include "metrics/mask_record.h"

namespace osor::metrics {

class Dinov2;
struct BitProcessorConfig;

// One DINOv2 comparison of two regions (d0: the hole and its ring in the picture; t<j>: the crops).
struct CfdTerm {
  std::string name;                          // "d0", "t0", "t1", ...
  int64_t center_index = -1;                 // t<j>: index into the component's center list
  std::vector<int64_t> adjacent_boundaries;  // t<j>: indices into the boundary list
  double weight = 1;                         // t<j>: |C_j| / Σ_all |C|; d0: 1
  at::Tensor image1, mask1, image2, mask2;   // uint8 [3,h,w] and bool [h,w] at their own size
  std::array<int64_t, 4> crop1_xywh{}, crop2_xywh{};  // t<j>: the crops' boxes in the picture
  double distance = 0;                       // 1 − f̂1·f̂2, once scored
};

struct CfdComponent {
  int64_t pixels = 0;
  std::array<int64_t, 4> ring_rectangle_lurb{};
  int64_t ring_pixels = 0;
  std::vector<int64_t> kept_records;  // into the SAM records, in kept order
  std::vector<int64_t> boundary, center, center_areas;  // boundary/center: into kept_records
  std::vector<CfdTerm> terms;         // d0 first
  double value = 0;
};

struct CfdPicture {
  std::vector<CfdComponent> components;
  double score = 0;  // mean of the component values
};

// The geometry of CFD for one picture (uint8 [3,H,W]) and object mask ([H,W], nonzero = object) given SAM's
// records of the picture (the same for every component: generate is deterministic). Distances are not filled.
std::vector<CfdComponent> plan_cfd(const at::Tensor& image_u8, const at::Tensor& object_mask,
                                   const std::vector<MaskRecord>& records);

// The DINOv2 tokens [1+16², D] of a term's image (which = 1 or 2) in the given mode.
using CfdTokens = std::function<at::Tensor(const CfdTerm& term, int which)>;

// Fills every term's distance, the component values and the picture score.
CfdPicture score_cfd(std::vector<CfdComponent> components, CfdMode mode, const CfdTokens& tokens_of);

// The 224×224 picture DINOv2 sees for a region image (Pillow's default bicubic resize), uint8 [3,224,224].
at::Tensor cfd_image_224(const at::Tensor& image_u8);

using MaskGenerator = std::function<std::vector<MaskRecord>(const at::Tensor& image_u8)>;

// The metric end to end: the mask generator, DINOv2 and its processor; DINOv2 runs once per picture on every
// region image of every term (batched).
class CfdScorer {
 public:
  CfdScorer(const Dinov2& dinov2, const BitProcessorConfig& processor, MaskGenerator generator, CfdMode mode);
  // image: uint8 [3,H,W], or float [1,3,H,W]/[3,H,W] in [0,1] (quantised to 8 bits); mask [H,W] or [1,1,H,W].
  CfdPicture score(const at::Tensor& image, const at::Tensor& object_mask) const;
  CfdMode mode() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace osor::metrics
