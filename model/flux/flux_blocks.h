// The FLUX transformer's blocks (diffusers transformer_flux.py, normalization.py, embeddings.py, v0.32.2),
// registered under diffusers' names. Internal to model/flux/.
//
// Modulation chunk orders, as diffusers (the original BFL checkpoints differ for norm_out):
//   AdaLayerNormZero       norm1.linear(SiLU(temb)) → shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
//   AdaLayerNormZeroSingle norm.linear(SiLU(temb))  → shift, scale, gate
//   AdaLayerNormContinuous norm_out.linear(SiLU(temb)) → scale, shift
// Every LayerNorm here has no affine parameters and eps 1e-6; x·(1 + scale) + shift.
#pragma once

#include <array>

#include "model/flux/flux_attention.h"
#include "model/nn/blocks.h"

namespace osor::model::flux {

// norm1 / norm1_context of a double block (chunks = 6) and `norm` of a single block (chunks = 3).
class AdaLayerNormZero : public torch::nn::Module {
 public:
  AdaLayerNormZero(int64_t dim, int64_t chunks);
  // The modulation parameters [B, dim] each, in diffusers' chunk order; adapters false: `linear` without its
  // runtime LoRA adapter.
  std::vector<at::Tensor> modulation(const at::Tensor& temb, bool adapters = true) const;
  std::shared_ptr<nn::Linear> linear;
};

// norm_out: LN(x)·(1 + scale) + shift with (scale, shift) = chunk(linear(SiLU(temb)), 2).
class AdaLayerNormContinuous : public torch::nn::Module {
 public:
  explicit AdaLayerNormContinuous(int64_t dim);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb) const;
  std::shared_ptr<nn::Linear> linear;
};

// FeedForward(activation_fn="gelu-approximate"): ff.net.0.proj (dim → 4·dim), GELU(tanh), ff.net.2 (4·dim → dim).
class GeluFeedForward : public torch::nn::Module {
 public:
  explicit GeluFeedForward(int64_t dim);
  // out_adapters false: net.2 without its runtime LoRA adapter (net.0.proj keeps its own, as OminiControl does).
  at::Tensor forward(const at::Tensor& x, bool out_adapters = true) const;
  std::shared_ptr<nn::Linear> proj, out;
};

// FluxTransformerBlock: joint attention of the image and text streams, each with its own modulation and MLP.
class FluxTransformerBlock : public torch::nn::Module {
 public:
  FluxTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim);
  // (text, image) after the block, diffusers' return order.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& image, const at::Tensor& text, const at::Tensor& temb,
                                            const RotaryEmbedding& rope) const;
  // With OminiControl's condition tokens (model/flux/flux_condition.h): the condition goes through the image
  // stream's layers (norm1, attention, ff) modulated by `cond_temb`, with the runtime LoRA adapters; the image
  // stream without them on norm1.linear, to_q/k/v, to_out.0 and ff.net.2. `rope` covers [text; image; condition].
  struct Streams {
    at::Tensor text, image, condition;
  };
  Streams forward_conditioned(const Streams& in, const at::Tensor& temb, const at::Tensor& cond_temb,
                              const RotaryEmbedding& rope) const;
  std::shared_ptr<AdaLayerNormZero> norm1, norm1_context;
  std::shared_ptr<FluxAttention> attn;
  std::shared_ptr<GeluFeedForward> ff, ff_context;
};

// FluxSingleTransformerBlock on [text; image] tokens: x + gate·proj_out(cat[attn(n), GELU_tanh(proj_mlp(n))]).
class FluxSingleTransformerBlock : public torch::nn::Module {
 public:
  FluxSingleTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const RotaryEmbedding& rope) const;
  // With condition tokens: (tokens, condition) after the block; the [text; image] tokens without the runtime
  // adapters of norm.linear, proj_mlp, to_q/k/v and proj_out, the condition with them.
  std::pair<at::Tensor, at::Tensor> forward_conditioned(const at::Tensor& x, const at::Tensor& condition,
                                                        const at::Tensor& temb, const at::Tensor& cond_temb,
                                                        const RotaryEmbedding& rope) const;
  std::shared_ptr<AdaLayerNormZero> norm;
  std::shared_ptr<nn::Linear> proj_mlp, proj_out;
  std::shared_ptr<FluxAttention> attn;
};

// time_text_embed (CombinedTimestepGuidanceTextProjEmbeddings, or CombinedTimestepTextProjEmbeddings without
// guidance): timestep_embedder(sinusoid(t)) [+ guidance_embedder(sinusoid(g))] + text_embedder(pooled), where
// text_embedder is PixArtAlphaTextProjection(act "silu"): linear_1 → SiLU → linear_2.
class TimeTextEmbedding : public torch::nn::Module {
 public:
  static constexpr int64_t kProjectionDim = 256;  // Timesteps(num_channels=256, flip_sin_to_cos=True, shift=0)
  TimeTextEmbedding(int64_t dim, int64_t pooled_dim, bool guidance);
  // t_proj, g_proj: the sinusoids [B, 256] already in the model dtype (g_proj undefined without guidance).
  at::Tensor forward(const at::Tensor& t_proj, const at::Tensor& g_proj, const at::Tensor& pooled) const;
  std::shared_ptr<nn::TimestepEmbedding> timestep_embedder, guidance_embedder, text_embedder;
};

}  // namespace osor::model::flux
