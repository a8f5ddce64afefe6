// FLUX's rotary position embedding over 3 id axes (diffusers FluxPosEmbed + apply_rotary_emb, v0.32.2), used by
// every attention of the FLUX transformer. Internal to model/flux/.
//
// Per axis i of dimension dᵢ (axes_dims_rope, Σ dᵢ = head_dim): freqs = 1/θ^(arange(0, dᵢ, 2)/dᵢ) in float64,
// angle = pos ⊗ freqs in float64 (pos = the id as float32, widened), cos/sin each repeated twice along the feature
// axis (repeat_interleave_real) and cast to float32; the axes concatenated → cos, sin [S, head_dim].
// Rotation on interleaved pairs (x[2k], x[2k+1]): rot = (−x[2k+1], x[2k]), out = x·cos + rot·sin, computed in
// float32 and cast back to x's dtype (diffusers does so even in a float64 run).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace osor::model::flux {

struct RotaryEmbedding {
  at::Tensor cos, sin;  // [S, head_dim], float32
};

// ids [S, axes] (txt_ids then img_ids, as the transformer concatenates them); theta 10000 in FLUX.
RotaryEmbedding rotary_embedding(const at::Tensor& ids, const std::vector<int64_t>& axes_dims, double theta = 10000.0);

// x [B, heads, S, head_dim].
at::Tensor apply_rotary_embedding(const at::Tensor& x, const RotaryEmbedding& rope);

}  // namespace osor::model::flux
