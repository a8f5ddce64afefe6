// segment_anything/modeling/image_encoder.py (ImageEncoderViT, Block, Attention, window partition, decomposed
// relative positions) and common.py (LayerNorm2d, MLPBlock).
#include "metrics/networks/sam_modules.h"

#include <algorithm>
#include <cmath>

namespace osor::metrics::sam {

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  const torch::Tensor u = x.mean(1, true);
  const torch::Tensor s = (x - u).pow(2).mean(1, true);
  return weight.view({-1, 1, 1}) * ((x - u) / torch::sqrt(s + eps)) + bias.view({-1, 1, 1});
}

MlpBlockImpl::MlpBlockImpl(int64_t dim, int64_t hidden, bool relu_) : relu(relu_) {
  lin1 = register_module("lin1", nn::Linear(dim, hidden));
  lin2 = register_module("lin2", nn::Linear(hidden, dim));
}

torch::Tensor MlpBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = lin1(x);
  return lin2(relu ? torch::relu(h) : torch::gelu(h));
}

PatchEmbedImpl::PatchEmbedImpl(int64_t patch, int64_t dim) {
  proj = register_module("proj", nn::Conv2d(nn::Conv2dOptions(3, dim, patch).stride(patch)));
}

namespace {

// get_rel_pos: the table rows for every (query, key) offset; the table is resized linearly when its length is not
// 2·max(q,k) − 1 (never for the published configurations, kept for other input sizes).
torch::Tensor rel_pos_rows(int64_t q_size, int64_t k_size, const torch::Tensor& rel_pos) {
  const int64_t max_dist = 2 * std::max(q_size, k_size) - 1;
  torch::Tensor table = rel_pos;
  if (rel_pos.size(0) != max_dist)
    table = nn::functional::interpolate(rel_pos.reshape({1, rel_pos.size(0), -1}).permute({0, 2, 1}),
                                        nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{max_dist}).mode(torch::kLinear))
                .reshape({-1, max_dist})
                .permute({1, 0});
  const double qs = std::max(static_cast<double>(k_size) / q_size, 1.0), ks = std::max(static_cast<double>(q_size) / k_size, 1.0);
  const torch::Tensor q = torch::arange(q_size, torch::kDouble).unsqueeze(1) * qs;
  const torch::Tensor k = torch::arange(k_size, torch::kDouble).unsqueeze(0) * ks;
  const torch::Tensor rel = (q - k) + static_cast<double>(k_size - 1) * ks;
  return table.index({rel.to(torch::kLong)});
}

std::pair<torch::Tensor, std::array<int64_t, 2>> window_partition(const torch::Tensor& x, int64_t ws) {
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const int64_t ph = (ws - h % ws) % ws, pw = (ws - w % ws) % ws;
  const torch::Tensor padded = (ph > 0 || pw > 0) ? nn::functional::pad(x, nn::functional::PadFuncOptions({0, 0, 0, pw, 0, ph})) : x;
  const int64_t hp = h + ph, wp = w + pw;
  const torch::Tensor windows =
      padded.view({b, hp / ws, ws, wp / ws, ws, c}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({-1, ws, ws, c});
  return {windows, {hp, wp}};
}

torch::Tensor window_unpartition(const torch::Tensor& windows, int64_t ws, std::array<int64_t, 2> padded, int64_t h, int64_t w) {
  const int64_t hp = padded[0], wp = padded[1];
  const int64_t b = windows.size(0) / (hp * wp / ws / ws);
  torch::Tensor x = windows.view({b, hp / ws, wp / ws, ws, ws, -1}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({b, hp, wp, -1});
  if (hp > h || wp > w) x = x.slice(1, 0, h).slice(2, 0, w).contiguous();
  return x;
}

}  // namespace

EncoderAttentionImpl::EncoderAttentionImpl(int64_t dim, int64_t heads, bool qkv_bias, int64_t rel_size) : num_heads(heads) {
  qkv = register_module("qkv", nn::Linear(nn::LinearOptions(dim, dim * 3).bias(qkv_bias)));
  proj = register_module("proj", nn::Linear(dim, dim));
  if (rel_size > 0) {
    rel_pos_h = register_parameter("rel_pos_h", torch::zeros({2 * rel_size - 1, dim / heads}));
    rel_pos_w = register_parameter("rel_pos_w", torch::zeros({2 * rel_size - 1, dim / heads}));
  }
}

torch::Tensor EncoderAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2);
  const auto qkv_ = qkv(x).reshape({b, h * w, 3, num_heads, -1}).permute({2, 0, 3, 1, 4}).reshape({3, b * num_heads, h * w, -1}).unbind(0);
  const torch::Tensor& q = qkv_[0];
  const double scale = std::pow(static_cast<double>(q.size(-1)), -0.5);
  torch::Tensor attn = torch::matmul(q * scale, qkv_[1].transpose(-2, -1));
  if (rel_pos_h.defined()) {
    // add_decomposed_rel_pos, with the unscaled q.
    const torch::Tensor rh = rel_pos_rows(h, h, rel_pos_h), rw = rel_pos_rows(w, w, rel_pos_w);
    const torch::Tensor rq = q.reshape({b * num_heads, h, w, -1});
    const torch::Tensor rel_h = torch::einsum("bhwc,hkc->bhwk", {rq, rh});
    const torch::Tensor rel_w = torch::einsum("bhwc,wkc->bhwk", {rq, rw});
    attn = (attn.view({b * num_heads, h, w, h, w}) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).view({b * num_heads, h * w, h * w});
  }
  attn = attn.softmax(-1);
  const torch::Tensor o = torch::matmul(attn, qkv_[2]).view({b, num_heads, h, w, -1}).permute({0, 2, 3, 1, 4}).reshape({b, h, w, -1});
  return proj(o);
}

EncoderBlockImpl::EncoderBlockImpl(const SamConfig& c, int64_t window_) : window(window_) {
  const auto ln = nn::LayerNormOptions({c.encoder_embed_dim}).eps(c.layer_norm_eps);
  norm1 = register_module("norm1", nn::LayerNorm(ln));
  attn = register_module("attn", EncoderAttention(c.encoder_embed_dim, c.encoder_num_heads, c.qkv_bias,
                                                  c.use_rel_pos ? (window > 0 ? window : c.grid()) : 0));
  norm2 = register_module("norm2", nn::LayerNorm(ln));
  mlp = register_module("mlp", MlpBlock(c.encoder_embed_dim, static_cast<int64_t>(c.encoder_embed_dim * c.mlp_ratio), false));
}

torch::Tensor EncoderBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = norm1(x);
  if (window > 0) {
    // The normed tokens are zero padded to whole windows and attended without a mask, then cropped.
    const int64_t h = y.size(1), w = y.size(2);
    auto [windows, padded] = window_partition(y, window);
    y = window_unpartition(attn(windows), window, padded, h, w);
  } else {
    y = attn(y);
  }
  const torch::Tensor z = x + y;
  return z + mlp(norm2(z));
}

ImageEncoderImpl::ImageEncoderImpl(const SamConfig& c) {
  patch_embed = register_module("patch_embed", PatchEmbed(c.vit_patch_size, c.encoder_embed_dim));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, c.grid(), c.grid(), c.encoder_embed_dim}));
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < c.encoder_depth; ++i) {
    const bool global = std::find(c.encoder_global_attn_indexes.begin(), c.encoder_global_attn_indexes.end(), i) !=
                        c.encoder_global_attn_indexes.end();
    blocks->push_back(EncoderBlock(c, global ? 0 : c.window_size));
  }
  const int64_t out = c.prompt_embed_dim;
  neck = register_module("neck", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(c.encoder_embed_dim, out, 1).bias(false)), LayerNorm2d(out),
                                                nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)), LayerNorm2d(out)));
}

torch::Tensor ImageEncoderImpl::forward(const torch::Tensor& x, std::vector<std::pair<std::string, torch::Tensor>>* taps) {
  torch::Tensor h = patch_embed->proj(x).permute({0, 2, 3, 1}) + pos_embed;
  size_t i = 0;
  for (const auto& blk : *blocks) {
    h = blk->as<EncoderBlockImpl>()->forward(h);
    if (taps) taps->emplace_back("blocks." + std::to_string(i), h);
    ++i;
  }
  const torch::Tensor out = neck->forward(h.permute({0, 3, 1, 2}));
  if (taps) taps->emplace_back("neck", out);
  return out;
}

}  // namespace osor::metrics::sam
