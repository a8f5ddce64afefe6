// Building blocks of the diffusers UNet2DConditionModel and AutoencoderKL, registered under diffusers' own
// parameter names (norm1, conv1, time_emb_proj, ..., attn1.to_q, to_out.0, ff.net.0.proj). Internal to model/.
#pragma once

#include <optional>

#include "model/nn/layers.h"

namespace osor::model::nn {

// diffusers get_timestep_embedding: exponent = -ln(max_period)·arange(half)/(half − shift), emb = t·exp(exponent),
// [sin, cos] (or [cos, sin] with flip_sin_to_cos), in float32 whatever the model dtype (as diffusers).
at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double shift,
                              double max_period = 10000.0);

// linear_1 → SiLU → linear_2 (diffusers TimestepEmbedding).
class TimestepEmbedding : public torch::nn::Module {
 public:
  TimestepEmbedding(int64_t in, int64_t dim);
  at::Tensor forward(const at::Tensor& x) const;
  std::shared_ptr<Linear> linear_1, linear_2;
};

// GN → SiLU → conv1 (+ time_emb_proj(SiLU(temb))) → GN → SiLU → conv2, plus the (1×1 conv_shortcut) input.
class ResnetBlock2D : public torch::nn::Module {
 public:
  ResnetBlock2D(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double eps);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb = {}) const;
  std::shared_ptr<GroupNorm> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2, conv_shortcut;
  std::shared_ptr<Linear> time_emb_proj;
};

// 3×3 stride-2 conv; padding 0 means diffusers' asymmetric (0,1,0,1) zero pad first (the VAE encoder).
class Downsample2D : public torch::nn::Module {
 public:
  Downsample2D(int64_t channels, int64_t padding);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t padding;
  std::shared_ptr<Conv2d> conv;
};

// Nearest ×2 (or to `size`, diffusers' upsample_size for latents not divisible by 2^levels), then 3×3 conv.
class Upsample2D : public torch::nn::Module {
 public:
  explicit Upsample2D(int64_t channels);
  at::Tensor forward(const at::Tensor& x, std::optional<std::pair<int64_t, int64_t>> size = std::nullopt) const;
  std::shared_ptr<Conv2d> conv;
};

// diffusers Attention with AttnProcessor2_0 on token sequences [B, L, C]: to_q/to_k/to_v, heads × head_dim,
// to_out.0. The VAE variant (spatial) adds group_norm, works on [B, C, H, W] and adds the residual.
class Attention : public torch::nn::Module {
 public:
  Attention(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim, bool qkv_bias,
            int64_t spatial_norm_groups = 0, double spatial_norm_eps = 1e-6);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context = {}) const;  // tokens [B, L, C]
  at::Tensor forward_spatial(const at::Tensor& x) const;                          // VAE: [B, C, H, W]
  int64_t heads, head_dim;
  std::shared_ptr<GroupNorm> group_norm;
  std::shared_ptr<Linear> to_q, to_k, to_v, to_out_0;
};

// GEGLU feed-forward: ff.net.0.proj (dim → 2·inner), h·gelu(gate) (exact erf GELU), ff.net.2 (inner → dim).
class FeedForward : public torch::nn::Module {
 public:
  FeedForward(int64_t dim, int64_t mult = 4);
  at::Tensor forward(const at::Tensor& x) const;
  std::shared_ptr<Linear> proj, out;
};

// x += attn1(LN1(x)); x += attn2(LN2(x), context); x += ff(LN3(x)).
class BasicTransformerBlock : public torch::nn::Module {
 public:
  BasicTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Attention> attn1, attn2;
  std::shared_ptr<FeedForward> ff;
};

// GN(eps 1e-6) → proj_in (Linear with use_linear_projection, else 1×1 conv) → blocks → proj_out → + residual.
class Transformer2DModel : public torch::nn::Module {
 public:
  Transformer2DModel(int64_t heads, int64_t head_dim, int64_t channels, int64_t layers, int64_t context_dim,
                     int64_t groups, bool linear_projection);
  // checkpoint_blocks: each BasicTransformerBlock under activation checkpointing (model/nn/activation_checkpoint.h),
  // as diffusers' Transformer2DModel with gradient_checkpointing; norm and projections are not.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context, bool checkpoint_blocks = false) const;
  bool linear_projection;
  std::shared_ptr<GroupNorm> norm;
  std::shared_ptr<Linear> proj_in_linear, proj_out_linear;
  std::shared_ptr<Conv2d> proj_in_conv, proj_out_conv;
  std::vector<std::shared_ptr<BasicTransformerBlock>> blocks;
};

}  // namespace osor::model::nn
