#include "model/flux/flux_attention.h"

#include <ATen/ATen.h>

#include "model/nn/attention.h"

namespace osor::model::flux {

at::Tensor without_adapter(const nn::Linear& l, const at::Tensor& x) { return at::linear(x, l.weight, l.bias); }

RMSNorm::RMSNorm(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, nn::param_options()), /*requires_grad=*/false);
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);
  at::Tensor h = x * at::rsqrt(variance + eps);
  if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) h = h.to(weight.scalar_type());
  return h * weight;
}

FluxAttention::FluxAttention(int64_t dim, int64_t heads_, int64_t head_dim_, bool joint)
    : heads(heads_), head_dim(head_dim_) {
  const int64_t inner = heads * head_dim;
  constexpr double kEps = 1e-6;
  norm_q = register_module("norm_q", std::make_shared<RMSNorm>(head_dim, kEps));
  norm_k = register_module("norm_k", std::make_shared<RMSNorm>(head_dim, kEps));
  to_q = register_module("to_q", std::make_shared<nn::Linear>(dim, inner));
  to_k = register_module("to_k", std::make_shared<nn::Linear>(dim, inner));
  to_v = register_module("to_v", std::make_shared<nn::Linear>(dim, inner));
  if (!joint) return;
  add_k_proj = register_module("add_k_proj", std::make_shared<nn::Linear>(dim, inner));
  add_v_proj = register_module("add_v_proj", std::make_shared<nn::Linear>(dim, inner));
  add_q_proj = register_module("add_q_proj", std::make_shared<nn::Linear>(dim, inner));
  auto to_out = register_module("to_out", std::make_shared<nn::List>());
  to_out_0 = to_out->add(std::make_shared<nn::Linear>(inner, dim));
  to_add_out = register_module("to_add_out", std::make_shared<nn::Linear>(inner, dim));
  norm_added_q = register_module("norm_added_q", std::make_shared<RMSNorm>(head_dim, kEps));
  norm_added_k = register_module("norm_added_k", std::make_shared<RMSNorm>(head_dim, kEps));
}

FluxAttention::Heads FluxAttention::project(const at::Tensor& x, const nn::Linear& q, const nn::Linear& k,
                                            const nn::Linear& v, const RMSNorm& nq, const RMSNorm& nk,
                                            bool adapters) const {
  const int64_t b = x.size(0);
  auto split = [&](const at::Tensor& t) { return t.view({b, -1, heads, head_dim}).transpose(1, 2); };
  auto apply = [&](const nn::Linear& l) { return adapters ? l.forward(x) : without_adapter(l, x); };
  return {nq.forward(split(apply(q))), nk.forward(split(apply(k))), split(apply(v))};
}

at::Tensor FluxAttention::attend(const Heads& h, const RotaryEmbedding& rope) const {
  const at::Tensor q = apply_rotary_embedding(h.q, rope), k = apply_rotary_embedding(h.k, rope);
  const at::Tensor o = nn::scaled_dot_product_attention(q, k, h.v);
  return o.transpose(1, 2).reshape({o.size(0), -1, heads * head_dim}).to(q.scalar_type());
}

std::pair<at::Tensor, at::Tensor> FluxAttention::forward(const at::Tensor& image, const at::Tensor& text,
                                                         const RotaryEmbedding& rope) const {
  const Heads img = project(image, *to_q, *to_k, *to_v, *norm_q, *norm_k);
  const Heads txt = project(text, *add_q_proj, *add_k_proj, *add_v_proj, *norm_added_q, *norm_added_k);
  // diffusers concatenates [text, image] along the sequence, which is also the order of the RoPE ids.
  const Heads joint{at::cat({txt.q, img.q}, 2), at::cat({txt.k, img.k}, 2), at::cat({txt.v, img.v}, 2)};
  const at::Tensor o = attend(joint, rope);
  const int64_t text_len = text.size(1);
  return {to_out_0->forward(o.narrow(1, text_len, o.size(1) - text_len)), to_add_out->forward(o.narrow(1, 0, text_len))};
}

at::Tensor FluxAttention::forward(const at::Tensor& tokens, const RotaryEmbedding& rope) const {
  return attend(project(tokens, *to_q, *to_k, *to_v, *norm_q, *norm_k), rope);
}

namespace {

FluxAttention::Conditioned split_streams(const at::Tensor& o, int64_t first, int64_t second) {
  return {o.narrow(1, first, second), o.narrow(1, 0, first), o.narrow(1, first + second, o.size(1) - first - second)};
}

}  // namespace

FluxAttention::Conditioned FluxAttention::forward_conditioned(const at::Tensor& image, const at::Tensor& text,
                                                              const at::Tensor& condition,
                                                              const RotaryEmbedding& rope) const {
  const Heads img = project(image, *to_q, *to_k, *to_v, *norm_q, *norm_k, /*adapters=*/false);
  const Heads txt = project(text, *add_q_proj, *add_k_proj, *add_v_proj, *norm_added_q, *norm_added_k);
  const Heads cond = project(condition, *to_q, *to_k, *to_v, *norm_q, *norm_k, /*adapters=*/true);
  const Heads joint{at::cat({txt.q, img.q, cond.q}, 2), at::cat({txt.k, img.k, cond.k}, 2),
                    at::cat({txt.v, img.v, cond.v}, 2)};
  const Conditioned o = split_streams(attend(joint, rope), text.size(1), image.size(1));
  return {without_adapter(*to_out_0, o.image), to_add_out->forward(o.text), to_out_0->forward(o.condition)};
}

std::pair<at::Tensor, at::Tensor> FluxAttention::forward_conditioned(const at::Tensor& tokens,
                                                                     const at::Tensor& condition,
                                                                     const RotaryEmbedding& rope) const {
  const Heads main = project(tokens, *to_q, *to_k, *to_v, *norm_q, *norm_k, /*adapters=*/false);
  const Heads cond = project(condition, *to_q, *to_k, *to_v, *norm_q, *norm_k, /*adapters=*/true);
  const at::Tensor o =
      attend({at::cat({main.q, cond.q}, 2), at::cat({main.k, cond.k}, 2), at::cat({main.v, cond.v}, 2)}, rope);
  const int64_t n = tokens.size(1);
  return {o.narrow(1, 0, n), o.narrow(1, n, o.size(1) - n)};
}

}  // namespace osor::model::flux
