#include "model/flux/flux_blocks.h"

#include <ATen/ATen.h>

namespace osor::model::flux {
namespace {

constexpr double kNormEps = 1e-6;

// LayerNorm without affine parameters (FLUX's norm1/norm2/norm_out), then x·(1 + scale) + shift per sample.
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return at::layer_norm(x, {x.size(-1)}, {}, {}, kNormEps) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

}  // namespace

AdaLayerNormZero::AdaLayerNormZero(int64_t dim, int64_t chunks) {
  linear = register_module("linear", std::make_shared<nn::Linear>(dim, chunks * dim));
}

std::vector<at::Tensor> AdaLayerNormZero::modulation(const at::Tensor& temb, bool adapters) const {
  const at::Tensor h = at::silu(temb);
  return (adapters ? linear->forward(h) : without_adapter(*linear, h)).chunk(linear->weight.size(0) / linear->weight.size(1), 1);
}

AdaLayerNormContinuous::AdaLayerNormContinuous(int64_t dim) {
  linear = register_module("linear", std::make_shared<nn::Linear>(dim, 2 * dim));
}

at::Tensor AdaLayerNormContinuous::forward(const at::Tensor& x, const at::Tensor& temb) const {
  const auto p = linear->forward(at::silu(temb).to(x.scalar_type())).chunk(2, 1);
  return modulate(x, /*shift=*/p[1], /*scale=*/p[0]);
}

GeluFeedForward::GeluFeedForward(int64_t dim) {
  auto net = register_module("net", std::make_shared<nn::List>());
  auto gelu = net->add(std::make_shared<torch::nn::Module>());
  proj = gelu->register_module("proj", std::make_shared<nn::Linear>(dim, 4 * dim));
  net->skip();  // net.1: Dropout
  out = net->add(std::make_shared<nn::Linear>(4 * dim, dim));
}

at::Tensor GeluFeedForward::forward(const at::Tensor& x, bool out_adapters) const {
  const at::Tensor h = at::gelu(proj->forward(x), "tanh");
  return out_adapters ? out->forward(h) : without_adapter(*out, h);
}

FluxTransformerBlock::FluxTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim) {
  norm1 = register_module("norm1", std::make_shared<AdaLayerNormZero>(dim, 6));
  norm1_context = register_module("norm1_context", std::make_shared<AdaLayerNormZero>(dim, 6));
  attn = register_module("attn", std::make_shared<FluxAttention>(dim, heads, head_dim, /*joint=*/true));
  ff = register_module("ff", std::make_shared<GeluFeedForward>(dim));
  ff_context = register_module("ff_context", std::make_shared<GeluFeedForward>(dim));
}

std::pair<at::Tensor, at::Tensor> FluxTransformerBlock::forward(const at::Tensor& image, const at::Tensor& text,
                                                                const at::Tensor& temb,
                                                                const RotaryEmbedding& rope) const {
  // m[0..5] = shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
  const auto m = norm1->modulation(temb), c = norm1_context->modulation(temb);
  const auto [attn_image, attn_text] = attn->forward(modulate(image, m[0], m[1]), modulate(text, c[0], c[1]), rope);
  at::Tensor h = image + m[2].unsqueeze(1) * attn_image;
  h = h + m[5].unsqueeze(1) * ff->forward(modulate(h, m[3], m[4]));
  at::Tensor t = text + c[2].unsqueeze(1) * attn_text;
  t = t + c[5].unsqueeze(1) * ff_context->forward(modulate(t, c[3], c[4]));
  if (t.scalar_type() == at::kHalf) t = t.clamp(-65504, 65504);
  return {t, h};
}

FluxTransformerBlock::Streams FluxTransformerBlock::forward_conditioned(const Streams& in, const at::Tensor& temb,
                                                                       const at::Tensor& cond_temb,
                                                                       const RotaryEmbedding& rope) const {
  const auto m = norm1->modulation(temb, /*adapters=*/false), c = norm1_context->modulation(temb);
  const auto k = norm1->modulation(cond_temb);
  const FluxAttention::Conditioned a = attn->forward_conditioned(
      modulate(in.image, m[0], m[1]), modulate(in.text, c[0], c[1]), modulate(in.condition, k[0], k[1]), rope);
  at::Tensor h = in.image + m[2].unsqueeze(1) * a.image;
  h = h + m[5].unsqueeze(1) * ff->forward(modulate(h, m[3], m[4]), /*out_adapters=*/false);
  at::Tensor t = in.text + c[2].unsqueeze(1) * a.text;
  t = t + c[5].unsqueeze(1) * ff_context->forward(modulate(t, c[3], c[4]));
  at::Tensor q = in.condition + k[2].unsqueeze(1) * a.condition;
  q = q + k[5].unsqueeze(1) * ff->forward(modulate(q, k[3], k[4]));
  if (t.scalar_type() == at::kHalf) t = t.clamp(-65504, 65504);
  return {t, h, q};
}

FluxSingleTransformerBlock::FluxSingleTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim) {
  norm = register_module("norm", std::make_shared<AdaLayerNormZero>(dim, 3));
  proj_mlp = register_module("proj_mlp", std::make_shared<nn::Linear>(dim, 4 * dim));
  proj_out = register_module("proj_out", std::make_shared<nn::Linear>(5 * dim, dim));
  attn = register_module("attn", std::make_shared<FluxAttention>(dim, heads, head_dim, /*joint=*/false));
}

at::Tensor FluxSingleTransformerBlock::forward(const at::Tensor& x, const at::Tensor& temb,
                                               const RotaryEmbedding& rope) const {
  const auto m = norm->modulation(temb);  // shift, scale, gate
  const at::Tensor n = modulate(x, m[0], m[1]);
  const at::Tensor mlp = at::gelu(proj_mlp->forward(n), "tanh");
  at::Tensor out = x + m[2].unsqueeze(1) * proj_out->forward(at::cat({attn->forward(n, rope), mlp}, 2));
  if (out.scalar_type() == at::kHalf) out = out.clamp(-65504, 65504);
  return out;
}

std::pair<at::Tensor, at::Tensor> FluxSingleTransformerBlock::forward_conditioned(const at::Tensor& x,
                                                                                const at::Tensor& condition,
                                                                                const at::Tensor& temb,
                                                                                const at::Tensor& cond_temb,
                                                                                const RotaryEmbedding& rope) const {
  const auto m = norm->modulation(temb, /*adapters=*/false), k = norm->modulation(cond_temb);
  const at::Tensor n = modulate(x, m[0], m[1]), nc = modulate(condition, k[0], k[1]);
  const at::Tensor mlp = at::gelu(without_adapter(*proj_mlp, n), "tanh");
  const at::Tensor mlp_c = at::gelu(proj_mlp->forward(nc), "tanh");
  const auto [attn_x, attn_c] = attn->forward_conditioned(n, nc, rope);
  at::Tensor out = x + m[2].unsqueeze(1) * without_adapter(*proj_out, at::cat({attn_x, mlp}, 2));
  const at::Tensor cond = condition + k[2].unsqueeze(1) * proj_out->forward(at::cat({attn_c, mlp_c}, 2));
  if (out.scalar_type() == at::kHalf) out = out.clamp(-65504, 65504);
  return {out, cond};
}

TimeTextEmbedding::TimeTextEmbedding(int64_t dim, int64_t pooled_dim, bool guidance) {
  timestep_embedder = register_module("timestep_embedder", std::make_shared<nn::TimestepEmbedding>(kProjectionDim, dim));
  if (guidance)
    guidance_embedder = register_module("guidance_embedder", std::make_shared<nn::TimestepEmbedding>(kProjectionDim, dim));
  text_embedder = register_module("text_embedder", std::make_shared<nn::TimestepEmbedding>(pooled_dim, dim));
}

at::Tensor TimeTextEmbedding::forward(const at::Tensor& t_proj, const at::Tensor& g_proj, const at::Tensor& pooled) const {
  at::Tensor emb = timestep_embedder->forward(t_proj);
  if (guidance_embedder) emb = emb + guidance_embedder->forward(g_proj);
  return emb + text_embedder->forward(pooled);
}

}  // namespace osor::model::flux
