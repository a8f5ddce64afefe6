// CFD's region feature: which DINOv2 tokens describe a masked region, and the term d = 1 − f̂1·f̂2 of two regions.
//
// Official (OmniPaint calc_dinov2_score, every quirk kept): the 224×224 mask is resized to 16×16 (Pillow NEAREST),
// flattened and `True` appended, then used as a NumPy index into the 257 tokens:
//  * a mode "1" mask (d0: object and ring) gives a bool index: cell k selects token k (cell 0 → CLS, cell k → patch
//    k−1), and the last patch is always selected;
//  * a mode "L" mask (the d_j crops, 0/255) gives a uint8 index, i.e. integer fancy indexing: every one of the 257
//    entries selects the row of its value (0 → CLS, 255 → patch 254, the appended 1 → patch 0);
//  * mask1 is resized to 224 with NEAREST, mask2 with Pillow's default filter (NEAREST for "1", BICUBIC for "L", so
//    an "L" mask2 has intermediate values that select arbitrary rows);
//  * the tokens come from the processor's 256-resize + centre crop, so they are not aligned with the mask cells.
// Corrected: tokens of the 224×224 image without resize/crop (aligned 16×16 grid), f = Σ w_ij t̂_(1+16i+j) / Σ w_ij
// with w_ij the fraction of mask pixels in cell (i,j) of the mask at its own size (cell of pixel (y,x):
// i = ((2y+1)·16) // (2H)), no CLS and no forced token.
// Features and the dot product are float64 from float32 tokens (the reference's f64 run).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace osor::metrics {

enum class CfdMode { Official, Corrected };
const char* to_string(CfdMode mode);  // "official", "corrected"
CfdMode cfd_mode_from_string(const std::string& text);  // throws MetricError for anything else

// The official NumPy index of one mask: `values` has 1 + grid² entries; `is_bool` for a mode "1" mask.
struct OfficialIndex {
  std::vector<int64_t> values;
  bool is_bool = false;
  std::vector<int64_t> rows() const;  // the token rows selected, with multiplicity
};
// mask bool [H,W]; `as_l_image`: the mask was converted to mode "L" (0/255); `default_filter`: resized to 224 with
// Pillow's default filter (mask2) rather than NEAREST (mask1). `frame` 224, `grid` 16 for DINOv2 at 224.
// The 224×224 mask the official code resizes (uint8 [frame,frame]: 0/1 for mode "1", 0..255 for mode "L").
at::Tensor official_mask_224(const at::Tensor& mask, bool as_l_image, bool default_filter, int64_t frame = 224);
OfficialIndex official_index(const at::Tensor& mask, bool as_l_image, bool default_filter, int64_t frame = 224,
                             int64_t grid = 16);

// The corrected mode's cell weights, float64 [grid,grid].
at::Tensor corrected_cell_weights(const at::Tensor& mask, int64_t grid = 16);

// Region feature from raw tokens [1+grid², D] (float32 last_hidden_state[0]), normalised, float64 [D].
at::Tensor official_region_feature(const at::Tensor& tokens, const OfficialIndex& index);
at::Tensor corrected_region_feature(const at::Tensor& tokens, const at::Tensor& cell_weights);

// 1 − f̂1·f̂2.
double feature_deviation(const at::Tensor& f1, const at::Tensor& f2);

}  // namespace osor::metrics
