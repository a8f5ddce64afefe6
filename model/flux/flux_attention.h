// The FLUX transformer's attention (diffusers Attention with FluxAttnProcessor2_0, qk_norm "rms_norm", v0.32.2),
// registered under diffusers' names. Internal to model/flux/.
//
// Image stream: to_q/to_k/to_v (bias), per-head RMSNorm norm_q/norm_k. Double blocks add the text stream:
// add_q_proj/add_k_proj/add_v_proj, norm_added_q/norm_added_k, and the outputs to_out.0 (image) and to_add_out
// (text). Attention runs over [text; image] tokens with RoPE on q and k; single blocks (pre_only) have no output
// projection.
#pragma once

#include <utility>

#include "model/flux/flux_rope.h"
#include "model/nn/layers.h"

namespace osor::model::flux {

// A Linear layer without its runtime LoRA adapter (PEFT with the adapter's scaling set to 0: OminiControl's
// enable_lora context, FluxConditionTokens); the same as l.forward(x) when no adapter is attached or it was merged.
at::Tensor without_adapter(const nn::Linear& l, const at::Tensor& x);

// diffusers RMSNorm (eps 1e-6 in FLUX): the mean square in float32, x·rsqrt(ms + eps), cast to the weight's dtype
// when that is half/bfloat16, then ·weight.
class RMSNorm : public torch::nn::Module {
 public:
  RMSNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  double eps;
  at::Tensor weight;
};

class FluxAttention : public torch::nn::Module {
 public:
  // joint: the double block's variant (text projections and both outputs); otherwise the single block's.
  FluxAttention(int64_t dim, int64_t heads, int64_t head_dim, bool joint);
  // Double block: (image output, text output) after to_out.0 / to_add_out.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& image, const at::Tensor& text,
                                            const RotaryEmbedding& rope) const;
  // Single block: attention over the tokens it is given ([text; image]), no output projection.
  at::Tensor forward(const at::Tensor& tokens, const RotaryEmbedding& rope) const;

  // OminiControl's condition tokens (model/flux/flux_condition.h): one attention over [text; image; condition]
  // (`rope` covers all three), the condition projected by the image stream's layers *with* their runtime
  // adapters, the image (and, in single blocks, the text) by the same layers *without* (to_q/k/v, to_out.0).
  struct Conditioned {
    at::Tensor image, text, condition;  // double block: after to_out.0 / to_add_out / to_out.0
  };
  Conditioned forward_conditioned(const at::Tensor& image, const at::Tensor& text, const at::Tensor& condition,
                                  const RotaryEmbedding& rope) const;
  // Single block: (attention of the [text; image] tokens, attention of the condition), no output projection.
  std::pair<at::Tensor, at::Tensor> forward_conditioned(const at::Tensor& tokens, const at::Tensor& condition,
                                                        const RotaryEmbedding& rope) const;

  int64_t heads, head_dim;
  std::shared_ptr<nn::Linear> to_q, to_k, to_v, add_q_proj, add_k_proj, add_v_proj, to_out_0, to_add_out;
  std::shared_ptr<RMSNorm> norm_q, norm_k, norm_added_q, norm_added_k;

 private:
  struct Heads {
    at::Tensor q, k, v;  // [B, heads, S, head_dim], q and k RMS-normed
  };
  // adapters false: the linear layers without their runtime LoRA adapters (without_adapter).
  Heads project(const at::Tensor& x, const nn::Linear& q, const nn::Linear& k, const nn::Linear& v,
                const RMSNorm& nq, const RMSNorm& nk, bool adapters = true) const;
  at::Tensor attend(const Heads& h, const RotaryEmbedding& rope) const;  // → [B, S, heads·head_dim]
};

}  // namespace osor::model::flux
