#include "model/train/mask_degradation.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "model/error.h"
#include "model/train/mask_geometry.h"

namespace osor::model::train {

const char* to_string(MaskDegradation mode) {
  switch (mode) {
    case MaskDegradation::Shrink: return "shrink";
    case MaskDegradation::Expand: return "expand";
    case MaskDegradation::Holes: return "holes";
    case MaskDegradation::Shift: return "shift";
    case MaskDegradation::Sam: return "sam";
  }
  return "?";
}

MaskDegradation parse_mask_degradation(const std::string& name) {
  for (auto m : {MaskDegradation::Shrink, MaskDegradation::Expand, MaskDegradation::Holes, MaskDegradation::Shift,
                 MaskDegradation::Sam})
    if (name == to_string(m)) return m;
  throw ModelError("mask degradation '" + name + "' is unknown (known: shrink, expand, holes, shift, sam)");
}

MaskDegradationOptions MaskDegradationOptions::flux_defaults() {
  MaskDegradationOptions o;
  o.shift_limit = 50;
  o.expand_kernels = {11, 17, 21};
  o.hole_kernels = {21, 31, 41};
  return o;
}

at::Tensor binarize_mask(const at::Tensor& gray) { return (gray > 128).to(at::kByte) * 255; }

at::Tensor shrink_mask(const at::Tensor& mask, double ratio, ShrinkTrace* trace) {
  const at::Tensor dist = distance_transform(mask);
  if (trace) trace->dist = dist;
  const int64_t area = (mask > 0).sum().item<int64_t>();
  const int64_t k = area - static_cast<int64_t>(static_cast<double>(area) * ratio);
  if (area == 0 || k <= 0) return mask.clone();
  const at::Tensor fg = dist.masked_select(mask > 0);
  const float threshold = std::get<0>(fg.kthvalue(k)).item<float>();  // k-th smallest, 1-based
  if (trace) trace->threshold = threshold;
  return (dist > threshold).to(at::kByte) * 255;
}

at::Tensor expand_mask(const at::Tensor& mask, int64_t kernel, int64_t iterations, at::Tensor* hull_mask) {
  const at::Tensor hulls = fill_polygons(external_hulls(mask), mask.size(0), mask.size(1));
  if (hull_mask) *hull_mask = hulls;
  return dilate_square(hulls, kernel, iterations);
}

at::Tensor holes_mask(const at::Tensor& mask, const at::Tensor& seeds, int64_t kernel, double min_remaining) {
  if (seeds.sizes() != mask.sizes())
    throw ModelError("holes_mask: seeds " + c10::str(seeds.sizes()) + " and mask " + c10::str(mask.sizes()) + " differ");
  const at::Tensor holes = dilate_square((seeds > 0).to(at::kByte) * 255, kernel, 1);
  const at::Tensor aug = mask * (holes == 0).to(at::kByte);
  // OSOR compares the sums of the 0/255 arrays: aug.sum() < 0.4 · mask.sum().
  const double kept = aug.to(at::kLong).sum().item<int64_t>(), total = mask.to(at::kLong).sum().item<int64_t>();
  return kept < min_remaining * total ? mask.clone() : aug;
}

at::Tensor shift_mask(const at::Tensor& mask, int64_t dx, int64_t dy) {
  const int64_t h = mask.size(0), w = mask.size(1);
  at::Tensor out = at::zeros_like(mask);
  const int64_t y0 = std::max<int64_t>(dy, 0), y1 = std::min(h, h + dy), x0 = std::max<int64_t>(dx, 0), x1 = std::min(w, w + dx);
  if (y0 < y1 && x0 < x1)
    out.slice(0, y0, y1).slice(1, x0, x1).copy_(mask.slice(0, y0 - dy, y1 - dy).slice(1, x0 - dx, x1 - dx));
  return out;
}

MaskDegradationDraws sample_degradation(const MaskDegradationOptions& o, int64_t height, int64_t width, bool has_sam,
                                        std::mt19937_64& rng) {
  MaskDegradationDraws d;
  std::discrete_distribution<int> pick(o.mode_weights.begin(), o.mode_weights.end());
  d.mode = static_cast<MaskDegradation>(pick(rng));
  if (d.mode == MaskDegradation::Sam && !has_sam) d.mode = MaskDegradation::Shrink;
  auto choice = [&](const std::vector<int64_t>& v) {
    if (v.empty()) throw ModelError("mask degradation: an empty kernel list");
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  switch (d.mode) {
    case MaskDegradation::Shrink: d.ratio = std::uniform_real_distribution<double>(o.shrink_min, o.shrink_max)(rng); break;
    case MaskDegradation::Expand:
      d.kernel = choice(o.expand_kernels);
      d.iterations = std::uniform_int_distribution<int64_t>(o.dilate_min, o.dilate_max)(rng);
      break;
    case MaskDegradation::Holes: {
      std::uniform_real_distribution<double> u(0.0, 1.0);
      d.seeds = at::empty({height, width}, at::kByte);
      uint8_t* s = d.seeds.data_ptr<uint8_t>();
      for (int64_t i = 0; i < height * width; ++i) s[i] = u(rng) < o.hole_seed_probability;
      d.kernel = choice(o.hole_kernels);
      break;
    }
    case MaskDegradation::Shift:
      d.dx = std::uniform_int_distribution<int64_t>(-o.shift_limit, o.shift_limit)(rng);
      d.dy = std::uniform_int_distribution<int64_t>(-o.shift_limit, o.shift_limit)(rng);
      break;
    case MaskDegradation::Sam: break;
  }
  return d;
}

at::Tensor degrade_mask(const at::Tensor& mask, const MaskDegradationDraws& d, const MaskDegradationOptions& o,
                        const at::Tensor& sam) {
  switch (d.mode) {
    case MaskDegradation::Shrink: return shrink_mask(mask, d.ratio);
    case MaskDegradation::Expand: return expand_mask(mask, d.kernel, d.iterations);
    case MaskDegradation::Holes: return holes_mask(mask, d.seeds, d.kernel, o.hole_min_remaining);
    case MaskDegradation::Shift: return shift_mask(mask, d.dx, d.dy);
    case MaskDegradation::Sam: return sam.defined() ? sam : shrink_mask(mask, d.ratio);
  }
  return mask;
}

}  // namespace osor::model::train
