// OSOR's Phase II input-mask degradations (osor-*/src/data/augment.py MaskAugmentor, collate.py
// ConsistentMaskCollate; spec §1.3): the generator sees a degraded mask, the losses use the original (gt_mask).
// Masks are uint8 [H,W], binarised first as (gray > 128)·255. Each mode with its random draws explicit:
//   shrink (ratio r):   remove k = area − int(area·r) pixels, deepest last: threshold = k-th smallest distance
//                       (model/train/mask_geometry.h) over the mask, keep dist > threshold (ties all removed)
//   expand (K, n):      filled convex hulls of the external contours, dilated n times with a K×K square
//   holes (seeds, K):   mask minus the K×K dilation of the seed map; rejected (mask unchanged) when fewer than
//                       40 % of the mask's pixels remain. OSOR's seeds: uniform(H, W) < 0.0005
//   shift (dx, dy):     out[y, x] = mask[y − dy, x − dx], zeros shifted in
//   sam:                the SAM mask as given (the collate falls back to shrink when there is none)
// One mode per batch, drawn with the weights below.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace osor::model::train {

enum class MaskDegradation { Shrink, Expand, Holes, Shift, Sam };
const char* to_string(MaskDegradation mode);
MaskDegradation parse_mask_degradation(const std::string& name);  // ModelError listing the names otherwise

struct MaskDegradationOptions {
  std::array<double, 5> mode_weights{0.35, 0.2, 0.1, 0.05, 0.3};  // shrink, expand, holes, shift, sam
  double shrink_min = 0.5, shrink_max = 0.7;
  int64_t dilate_min = 1, dilate_max = 3;
  int64_t shift_limit = 35;
  std::vector<int64_t> expand_kernels{7, 11, 17};
  std::vector<int64_t> hole_kernels{17, 21, 31};
  double hole_seed_probability = 0.0005;
  double hole_min_remaining = 0.4;

  static MaskDegradationOptions sdxl_defaults() { return {}; }
  static MaskDegradationOptions flux_defaults();  // shift ±50, expand {11,17,21}, holes {21,31,41}
};

at::Tensor binarize_mask(const at::Tensor& gray);  // (gray > 128)·255, uint8

struct ShrinkTrace {
  at::Tensor dist;  // float32 [H,W]
  float threshold = 0;
};
at::Tensor shrink_mask(const at::Tensor& mask, double ratio, ShrinkTrace* trace = nullptr);
at::Tensor expand_mask(const at::Tensor& mask, int64_t kernel, int64_t iterations, at::Tensor* hull_mask = nullptr);
at::Tensor holes_mask(const at::Tensor& mask, const at::Tensor& seeds, int64_t kernel, double min_remaining = 0.4);
at::Tensor shift_mask(const at::Tensor& mask, int64_t dx, int64_t dy);

// The draws of one degradation (the fixture's explicit values, or sampled below).
struct MaskDegradationDraws {
  MaskDegradation mode = MaskDegradation::Shrink;
  double ratio = 0.6;
  int64_t kernel = 7, iterations = 1, dx = 0, dy = 0;
  at::Tensor seeds;  // uint8 [H,W] 0/1 (holes)
};
// Mode by the weights (sam falls back to shrink when has_sam is false), then that mode's draws.
MaskDegradationDraws sample_degradation(const MaskDegradationOptions& options, int64_t height, int64_t width,
                                        bool has_sam, std::mt19937_64& rng);
// Applies `draws` to a (binarised) mask; `sam` is used by the sam mode.
at::Tensor degrade_mask(const at::Tensor& mask, const MaskDegradationDraws& draws, const MaskDegradationOptions& options,
                        const at::Tensor& sam = {});

}  // namespace osor::model::train
