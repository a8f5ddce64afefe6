#include "metrics/cfd.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <algorithm>
#include <numeric>
#include <utility>

#include "metrics/cfd_regions.h"
#include "metrics/eight_bit.h"
#include "metrics/error.h"
#include "metrics/networks/bit_image_processor.h"
#include "metrics/networks/dinov2.h"
#include "metrics/resize.h"

namespace osor::metrics {

namespace {

// The terms t<j> of one component: each center mask against the union of its adjacent (cut) boundary masks.
void plan_center_terms(CfdComponent& c, const at::Tensor& image, const std::vector<at::Tensor>& boundary_cut,
                       const std::vector<at::Tensor>& centers) {
  std::vector<at::Tensor> dilated;
  for (const at::Tensor& b : boundary_cut) dilated.push_back(dilate_square13(b));
  const int64_t total_area = std::accumulate(c.center_areas.begin(), c.center_areas.end(), int64_t{0});
  for (size_t j = 0; j < centers.size(); ++j) {
    CfdTerm t;
    at::Tensor merged = at::zeros_like(centers[j]);
    for (size_t b = 0; b < boundary_cut.size(); ++b) {
      if (!meets_dilated(dilated[b], centers[j])) continue;
      merged = merged.logical_or(boundary_cut[b]);
      t.adjacent_boundaries.push_back(static_cast<int64_t>(b));
    }
    if (t.adjacent_boundaries.empty()) continue;
    t.name = "t" + std::to_string(c.terms.size() - 1);
    t.center_index = static_cast<int64_t>(j);
    t.weight = static_cast<double>(c.center_areas[j]) / static_cast<double>(total_area);
    const MaskedCrop bc = crop_masked_region(merged, image), cc = crop_masked_region(centers[j], image);
    t.image1 = bc.image, t.mask1 = bc.mask, t.crop1_xywh = bc.box_xywh;
    t.image2 = cc.image, t.mask2 = cc.mask, t.crop2_xywh = cc.box_xywh;
    c.terms.push_back(std::move(t));
  }
}

CfdComponent plan_component(const at::Tensor& image, const at::Tensor& object, const std::vector<int64_t>& kept,
                            const std::vector<at::Tensor>& kept_masks) {
  CfdComponent c;
  c.pixels = object.sum().item<int64_t>();
  c.kept_records = kept;
  const MaskClasses classes = classify_against_object(kept_masks, object);
  c.boundary = classes.boundary;
  c.center = classes.center;
  std::vector<at::Tensor> boundary_cut, centers;
  for (int64_t b : c.boundary) boundary_cut.push_back(kept_masks[b].logical_and(object));
  for (int64_t k : c.center) {
    centers.push_back(kept_masks[k]);
    c.center_areas.push_back(kept_masks[k].sum().item<int64_t>());
  }
  const ContextRing ring = context_ring(object);
  c.ring_rectangle_lurb = ring.rectangle_lurb;
  c.ring_pixels = ring.mask.sum().item<int64_t>();
  CfdTerm d0;
  d0.name = "d0";
  d0.image1 = image, d0.mask1 = object, d0.image2 = image, d0.mask2 = ring.mask;
  c.terms.push_back(std::move(d0));
  plan_center_terms(c, image, boundary_cut, centers);
  return c;
}

double term_distance(const CfdTerm& t, CfdMode mode, const at::Tensor& tokens1, const at::Tensor& tokens2) {
  if (mode == CfdMode::Corrected) {
    const int64_t grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(tokens1.size(0) - 1))));
    return feature_deviation(corrected_region_feature(tokens1, corrected_cell_weights(t.mask1, grid)),
                             corrected_region_feature(tokens2, corrected_cell_weights(t.mask2, grid)));
  }
  // d0 compares mode "1" masks; the t<j> crops are converted to mode "L" (0/255).
  const bool l_masks = t.name != "d0";
  return feature_deviation(official_region_feature(tokens1, official_index(t.mask1, l_masks, false)),
                           official_region_feature(tokens2, official_index(t.mask2, l_masks, true)));
}

at::Tensor to_u8_chw(const at::Tensor& image) {
  if (image.scalar_type() == at::kByte && image.dim() == 3) return image.to(at::kCPU).contiguous();
  const at::Tensor batch = image.dim() == 3 ? image.unsqueeze(0) : image;
  if (batch.dim() != 4 || batch.size(0) != 1 || batch.size(1) != 3)
    throw MetricError("CFD: expected one RGB image [3,H,W] or [1,3,H,W]");
  return eight_bit_values(batch.to(at::kCPU))[0].to(at::kByte).contiguous();
}

at::Tensor to_mask_hw(const at::Tensor& mask) {
  at::Tensor m = mask.to(at::kCPU);
  while (m.dim() > 2 && m.size(0) == 1) m = m[0];
  if (m.dim() != 2) throw MetricError("CFD: expected one object mask [H,W] or [1,1,H,W]");
  return m.ne(0);
}

}  // namespace

std::vector<CfdComponent> plan_cfd(const at::Tensor& image_u8, const at::Tensor& object_mask,
                                   const std::vector<MaskRecord>& records) {
  const at::Tensor mask = to_mask_hw(object_mask);
  if (image_u8.dim() != 3 || image_u8.size(0) != 3 || image_u8.size(1) != mask.size(0) || image_u8.size(2) != mask.size(1))
    throw MetricError("CFD: the picture [3,H,W] and the object mask [H,W] differ in size");
  const std::vector<at::Tensor> objects = connected_components8(mask);
  if (objects.empty()) throw MetricError("CFD: the object mask is empty (the official code divides by zero)");
  for (const MaskRecord& r : records)
    if (r.segmentation.sizes() != mask.sizes()) throw MetricError("CFD: a SAM mask differs in size from the picture");
  const std::vector<int64_t> kept = filter_sam_masks(records);
  std::vector<at::Tensor> kept_masks;
  for (int64_t k : kept) kept_masks.push_back(records[k].segmentation.to(at::kBool));
  std::vector<CfdComponent> components;
  for (const at::Tensor& object : objects) components.push_back(plan_component(image_u8, object, kept, kept_masks));
  return components;
}

CfdPicture score_cfd(std::vector<CfdComponent> components, CfdMode mode, const CfdTokens& tokens_of) {
  CfdPicture p;
  double sum = 0;
  for (CfdComponent& c : components) {
    c.value = 0;
    for (CfdTerm& t : c.terms) {
      t.distance = term_distance(t, mode, tokens_of(t, 1), tokens_of(t, 2));
      c.value += t.weight * t.distance;
    }
    sum += c.value;
  }
  p.score = components.empty() ? 0 : sum / static_cast<double>(components.size());
  p.components = std::move(components);
  return p;
}

at::Tensor cfd_image_224(const at::Tensor& image_u8) { return pil_resize_u8(image_u8, 224, 224, PilFilter::Bicubic); }

struct CfdScorer::Impl {
  Dinov2 net;
  BitProcessorConfig processor;
  MaskGenerator generator;
  CfdMode mode;
};

CfdScorer::CfdScorer(const Dinov2& dinov2, const BitProcessorConfig& processor, MaskGenerator generator, CfdMode mode)
    : impl_(std::make_shared<Impl>(Impl{dinov2, processor, std::move(generator), mode})) {
  if (mode == CfdMode::Corrected) {  // only rescale and normalise: the patch grid covers the 224×224 frame
    impl_->processor.do_resize = false;
    impl_->processor.do_center_crop = false;
  }
}

CfdMode CfdScorer::mode() const { return impl_->mode; }

CfdPicture CfdScorer::score(const at::Tensor& image, const at::Tensor& object_mask) const {
  const at::Tensor picture = to_u8_chw(image);
  std::vector<CfdComponent> components = plan_cfd(picture, object_mask, impl_->generator(picture));
  // Every distinct region image once, in one batch per picture (d0 compares the picture with itself).
  std::map<const void*, int64_t> row_of;
  std::vector<at::Tensor> pixels;
  for (const CfdComponent& c : components)
    for (const CfdTerm& t : c.terms)
      for (const at::Tensor* img : {&t.image1, &t.image2})
        if (row_of.emplace(img->unsafeGetTensorImpl(), static_cast<int64_t>(pixels.size())).second)
          pixels.push_back(bit_image_processor(cfd_image_224(*img), impl_->processor));
  std::vector<at::Tensor> batches;
  constexpr size_t kBatch = 16;
  for (size_t i = 0; i < pixels.size(); i += kBatch)
    batches.push_back(impl_->net.last_hidden_state(
        at::cat(std::vector<at::Tensor>(pixels.begin() + i, pixels.begin() + std::min(pixels.size(), i + kBatch)), 0)));
  const at::Tensor tokens = at::cat(batches, 0);
  return score_cfd(std::move(components), impl_->mode, [&](const CfdTerm& t, int which) {
    return tokens[row_of.at((which == 1 ? t.image1 : t.image2).unsafeGetTensorImpl())];
  });
}

}  // namespace osor::metrics
