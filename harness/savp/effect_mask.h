// SAVP stage 5, the effect-aware mask (spec §7) and the effect decomposition behind the Phase II
// subset (spec §8). Masks are CV_8U in {0,1}.
#pragma once

#include <opencv2/core.hpp>

#include <vector>

#include "harness/savp/config.h"
#include "harness/savp/difference.h"

namespace osor::harness::savp {

// Every component of the cleaned mask (small ones too) whose box overlaps some validated box by more
// than tau_keep × its own pixel count (the ratio may exceed 1, as in the official code).
cv::Mat filtered_difference(const cv::Mat& cleaned, const std::vector<Box>& kept, const SavpConfig& config);

// OR of the object-core masks and the filtered difference: no weighting, no feathering.
cv::Mat fuse(const std::vector<cv::Mat>& object_masks, const cv::Mat& filtered_diff);

// Area-targeted Euclidean dilation: adds the k = int(|m|·ratio) − |m| background pixels nearest to the
// mask (exact EDT; ties at the k-th distance are all added). ratio <= 1, an empty mask or k <= 0
// return the mask unchanged (the official code, given k = 0, would fill the frame: it takes the
// largest distance as threshold).
cv::Mat expand_mask(const cv::Mat& mask, double ratio);

// Tight box of the mask's pixels with an INCLUSIVE end, as separate_shadows.py builds it with np.where
// before it prompts the segmenter for the object core. Empty box when the mask is empty.
Box inclusive_mask_box(const cv::Mat& mask);

struct EffectSplit {
  cv::Mat expanded_core;  // expand_mask(m_obj, r_dilate)
  cv::Mat residual;       // clean(m_gt ∧ ¬expanded_core): shadows, reflections, other effects
  double effects_ratio = 0;  // |residual| / |expanded_core|, 0 when the core is empty
  bool phase2 = false;       // effects_ratio > tau_eff
};
EffectSplit split_effects(const cv::Mat& effect_mask, const cv::Mat& object_core, const SavpConfig& config);

}  // namespace osor::harness::savp
