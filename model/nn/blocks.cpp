#include "model/nn/blocks.h"

#include <cmath>

#include "model/error.h"
#include "model/nn/activation_checkpoint.h"
#include "model/nn/attention.h"

namespace osor::model::nn {

at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double shift,
                              double max_period) {
  // Same float32 op sequence as diffusers (so the sinusoid is bit-compatible with PyTorch's CPU kernels).
  const int64_t half = dim / 2;
  at::Tensor exponent = at::arange(0, half, timesteps.options().dtype(at::kFloat)) * (-std::log(max_period));
  exponent = exponent / (static_cast<double>(half) - shift);
  at::Tensor emb = at::exp(exponent);
  emb = timesteps.reshape({-1, 1}).to(at::kFloat) * emb.unsqueeze(0);
  emb = at::cat({at::sin(emb), at::cos(emb)}, -1);
  if (flip_sin_to_cos) emb = at::cat({emb.narrow(1, half, half), emb.narrow(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1});
  return emb;
}

TimestepEmbedding::TimestepEmbedding(int64_t in, int64_t dim) {
  linear_1 = register_module("linear_1", std::make_shared<Linear>(in, dim));
  linear_2 = register_module("linear_2", std::make_shared<Linear>(dim, dim));
}

at::Tensor TimestepEmbedding::forward(const at::Tensor& x) const {
  return linear_2->forward(at::silu(linear_1->forward(x)));
}

ResnetBlock2D::ResnetBlock2D(int64_t in, int64_t out, int64_t temb_channels, int64_t groups, double eps) {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(groups, in, eps));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, 1, 1));
  if (temb_channels > 0) time_emb_proj = register_module("time_emb_proj", std::make_shared<Linear>(temb_channels, out));
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(groups, out, eps));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1));
  if (in != out) conv_shortcut = register_module("conv_shortcut", std::make_shared<Conv2d>(in, out, 1, 1, 0));
}

at::Tensor ResnetBlock2D::forward(const at::Tensor& x, const at::Tensor& temb) const {
  at::Tensor h = conv1->forward(at::silu(norm1->forward(x)));
  if (time_emb_proj && temb.defined()) h = h + time_emb_proj->forward(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  h = conv2->forward(at::silu(norm2->forward(h)));
  return (conv_shortcut ? conv_shortcut->forward(x) : x) + h;
}

Downsample2D::Downsample2D(int64_t channels, int64_t padding_) : padding(padding_) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 2, padding));
}

at::Tensor Downsample2D::forward(const at::Tensor& x) const {
  if (padding == 0) return conv->forward(at::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv->forward(x);
}

Upsample2D::Upsample2D(int64_t channels) {
  conv = register_module("conv", std::make_shared<Conv2d>(channels, channels, 3, 1, 1));
}

at::Tensor Upsample2D::forward(const at::Tensor& x, std::optional<std::pair<int64_t, int64_t>> size) const {
  const int64_t h = size ? size->first : 2 * x.size(2), w = size ? size->second : 2 * x.size(3);
  // diffusers calls F.interpolate(scale_factor=2.0) when no size is forwarded: nearest with scale 2 and with
  // output size 2·H pick the same source pixels.
  const at::Tensor in = x.contiguous(x.suggest_memory_format());
  at::Tensor up = size ? at::upsample_nearest2d(in, {h, w}) : at::upsample_nearest2d(in, {h, w}, 2.0, 2.0);
  return conv->forward(up);
}

Attention::Attention(int64_t query_dim, int64_t context_dim, int64_t heads_, int64_t head_dim_, bool qkv_bias,
                     int64_t spatial_norm_groups, double spatial_norm_eps)
    : heads(heads_), head_dim(head_dim_) {
  const int64_t inner = heads * head_dim;
  if (context_dim <= 0) context_dim = query_dim;
  if (spatial_norm_groups > 0)
    group_norm = register_module("group_norm", std::make_shared<GroupNorm>(spatial_norm_groups, query_dim,
                                                                           spatial_norm_eps));
  to_q = register_module("to_q", std::make_shared<Linear>(query_dim, inner, qkv_bias));
  to_k = register_module("to_k", std::make_shared<Linear>(context_dim, inner, qkv_bias));
  to_v = register_module("to_v", std::make_shared<Linear>(context_dim, inner, qkv_bias));
  auto to_out = register_module("to_out", std::make_shared<List>());
  to_out_0 = to_out->add(std::make_shared<Linear>(inner, query_dim));
}

at::Tensor Attention::forward(const at::Tensor& x, const at::Tensor& context) const {
  const at::Tensor& ctx = context.defined() ? context : x;
  const int64_t b = x.size(0);
  auto split = [&](const at::Tensor& t) { return t.reshape({b, -1, heads, head_dim}).transpose(1, 2); };
  const at::Tensor q = split(to_q->forward(x)), k = split(to_k->forward(ctx)), v = split(to_v->forward(ctx));
  const at::Tensor o = nn::scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape({b, -1, heads * head_dim});
  return to_out_0->forward(o);
}

at::Tensor Attention::forward_spatial(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor t = group_norm ? group_norm->forward(x) : x;
  t = t.reshape({b, c, h * w}).transpose(1, 2);
  t = forward(t);
  return t.transpose(1, 2).reshape({b, c, h, w}) + x;
}

FeedForward::FeedForward(int64_t dim, int64_t mult) {
  const int64_t inner = dim * mult;
  auto net = register_module("net", std::make_shared<List>());
  auto geglu = net->add(std::make_shared<torch::nn::Module>());
  proj = geglu->register_module("proj", std::make_shared<Linear>(dim, 2 * inner));
  net->skip();  // net.1: Dropout
  out = net->add(std::make_shared<Linear>(inner, dim));
}

at::Tensor FeedForward::forward(const at::Tensor& x) const {
  const auto parts = proj->forward(x).chunk(2, -1);
  return out->forward(parts[0] * at::gelu(parts[1]));
}

BasicTransformerBlock::BasicTransformerBlock(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim) {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(dim, 1e-5));
  attn1 = register_module("attn1", std::make_shared<Attention>(dim, 0, heads, head_dim, false));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(dim, 1e-5));
  attn2 = register_module("attn2", std::make_shared<Attention>(dim, context_dim, heads, head_dim, false));
  norm3 = register_module("norm3", std::make_shared<LayerNorm>(dim, 1e-5));
  ff = register_module("ff", std::make_shared<FeedForward>(dim));
}

at::Tensor BasicTransformerBlock::forward(const at::Tensor& x, const at::Tensor& context) const {
  at::Tensor h = attn1->forward(norm1->forward(x)) + x;
  h = attn2->forward(norm2->forward(h), context) + h;
  return ff->forward(norm3->forward(h)) + h;
}

Transformer2DModel::Transformer2DModel(int64_t heads, int64_t head_dim, int64_t channels, int64_t layers,
                                       int64_t context_dim, int64_t groups, bool linear_projection_)
    : linear_projection(linear_projection_) {
  const int64_t inner = heads * head_dim;
  norm = register_module("norm", std::make_shared<GroupNorm>(groups, channels, 1e-6));
  if (linear_projection)
    proj_in_linear = register_module("proj_in", std::make_shared<Linear>(channels, inner));
  else
    proj_in_conv = register_module("proj_in", std::make_shared<Conv2d>(channels, inner, 1));
  auto list = register_module("transformer_blocks", std::make_shared<List>());
  for (int64_t i = 0; i < layers; ++i)
    blocks.push_back(list->add(std::make_shared<BasicTransformerBlock>(inner, heads, head_dim, context_dim)));
  if (linear_projection)
    proj_out_linear = register_module("proj_out", std::make_shared<Linear>(inner, channels));
  else
    proj_out_conv = register_module("proj_out", std::make_shared<Conv2d>(inner, channels, 1));
}

namespace {

at::Tensor checkpointed_block(const std::shared_ptr<BasicTransformerBlock>& block, const at::Tensor& x,
                              const at::Tensor& context) {
  auto run = [block](const std::vector<at::Tensor>& in) {
    return std::vector<at::Tensor>{block->forward(in[0], in[1])};
  };
  return checkpointed(*block, run, {x, context})[0];
}

}  // namespace

at::Tensor Transformer2DModel::forward(const at::Tensor& x, const at::Tensor& context, bool checkpoint_blocks) const {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  at::Tensor t = norm->forward(x);
  if (linear_projection) {
    t = proj_in_linear->forward(t.permute({0, 2, 3, 1}).reshape({b, h * w, -1}));
  } else {
    t = proj_in_conv->forward(t);
    t = t.permute({0, 2, 3, 1}).reshape({b, h * w, -1});
  }
  for (const auto& block : blocks)
    t = checkpoint_blocks ? checkpointed_block(block, t, context) : block->forward(t, context);
  // [b, h·w, c] back to [b, c, h, w] in x's layout: no copy at all for a channels-last x (NHWC in memory).
  const auto format = x.suggest_memory_format();
  if (linear_projection) {
    t = proj_out_linear->forward(t).reshape({b, h, w, -1}).permute({0, 3, 1, 2}).contiguous(format);
  } else {
    t = proj_out_conv->forward(t.reshape({b, h, w, -1}).permute({0, 3, 1, 2}).contiguous(format));
  }
  return t + x;
}

}  // namespace osor::model::nn
