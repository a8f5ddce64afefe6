// segment_anything/modeling/mask_decoder.py (MaskDecoder, MLP) and transformer.py (TwoWayTransformer,
// TwoWayAttentionBlock, Attention with downsampling). The decoder's LayerNorms use PyTorch's default eps 1e-5.
#include "metrics/networks/sam_modules.h"

#include <cmath>

namespace osor::metrics::sam {

DecoderAttentionImpl::DecoderAttentionImpl(int64_t dim, int64_t heads, int64_t downsample) : num_heads(heads) {
  const int64_t internal = dim / downsample;
  q_proj = register_module("q_proj", nn::Linear(dim, internal));
  k_proj = register_module("k_proj", nn::Linear(dim, internal));
  v_proj = register_module("v_proj", nn::Linear(dim, internal));
  out_proj = register_module("out_proj", nn::Linear(internal, dim));
}

torch::Tensor DecoderAttentionImpl::forward(const torch::Tensor& q_in, const torch::Tensor& k_in, const torch::Tensor& v_in) {
  auto split = [&](const torch::Tensor& x) {
    return x.reshape({x.size(0), x.size(1), num_heads, x.size(2) / num_heads}).transpose(1, 2);
  };
  const torch::Tensor q = split(q_proj(q_in)), k = split(k_proj(k_in)), v = split(v_proj(v_in));
  torch::Tensor attn = torch::matmul(q, k.permute({0, 1, 3, 2})) / std::sqrt(static_cast<double>(q.size(-1)));
  attn = torch::softmax(attn, -1);
  const torch::Tensor out = torch::matmul(attn, v).transpose(1, 2);
  return out_proj(out.reshape({out.size(0), out.size(1), -1}));
}

TwoWayBlockImpl::TwoWayBlockImpl(const SamConfig& c, bool skip) : skip_first_layer_pe(skip) {
  const int64_t d = c.prompt_embed_dim, heads = c.decoder_num_heads;
  self_attn = register_module("self_attn", DecoderAttention(d, heads, 1));
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({d})));
  cross_attn_token_to_image = register_module("cross_attn_token_to_image", DecoderAttention(d, heads, 2));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({d})));
  mlp = register_module("mlp", MlpBlock(d, c.decoder_mlp_dim, true));
  norm3 = register_module("norm3", nn::LayerNorm(nn::LayerNormOptions({d})));
  norm4 = register_module("norm4", nn::LayerNorm(nn::LayerNormOptions({d})));
  cross_attn_image_to_token = register_module("cross_attn_image_to_token", DecoderAttention(d, heads, 2));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayBlockImpl::forward(torch::Tensor queries, torch::Tensor keys,
                                                                 const torch::Tensor& query_pe, const torch::Tensor& key_pe) {
  if (skip_first_layer_pe) {
    queries = self_attn(queries, queries, queries);
  } else {
    const torch::Tensor q = queries + query_pe;
    queries = queries + self_attn(q, q, queries);
  }
  queries = norm1(queries);
  torch::Tensor q = queries + query_pe, k = keys + key_pe;
  queries = norm2(queries + cross_attn_token_to_image(q, k, keys));
  queries = norm3(queries + mlp(queries));
  q = queries + query_pe;
  k = keys + key_pe;
  keys = norm4(keys + cross_attn_image_to_token(k, q, queries));
  return {queries, keys};
}

TwoWayTransformerImpl::TwoWayTransformerImpl(const SamConfig& c) {
  layers = register_module("layers", nn::ModuleList());
  for (int64_t i = 0; i < c.decoder_depth; ++i) layers->push_back(TwoWayBlock(c, i == 0));
  final_attn_token_to_image = register_module("final_attn_token_to_image", DecoderAttention(c.prompt_embed_dim, c.decoder_num_heads, 2));
  norm_final_attn = register_module("norm_final_attn", nn::LayerNorm(nn::LayerNormOptions({c.prompt_embed_dim})));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayTransformerImpl::forward(const torch::Tensor& image, const torch::Tensor& pe,
                                                                       const torch::Tensor& points) {
  torch::Tensor keys = image.flatten(2).permute({0, 2, 1});
  const torch::Tensor key_pe = pe.flatten(2).permute({0, 2, 1});
  torch::Tensor queries = points;
  for (const auto& layer : *layers) std::tie(queries, keys) = layer->as<TwoWayBlockImpl>()->forward(queries, keys, points, key_pe);
  const torch::Tensor q = queries + points, k = keys + key_pe;
  queries = norm_final_attn(queries + final_attn_token_to_image(q, k, keys));
  return {queries, keys};
}

DecoderMlpImpl::DecoderMlpImpl(int64_t in, int64_t hidden, int64_t out, int64_t depth) {
  layers = register_module("layers", nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) layers->push_back(nn::Linear(i == 0 ? in : hidden, i == depth - 1 ? out : hidden));
}

torch::Tensor DecoderMlpImpl::forward(torch::Tensor x) {
  const size_t n = layers->size();
  for (size_t i = 0; i < n; ++i) {
    x = layers[i]->as<nn::LinearImpl>()->forward(x);
    if (i + 1 < n) x = torch::relu(x);
  }
  return x;
}

MaskDecoderImpl::MaskDecoderImpl(const SamConfig& c) : num_mask_tokens(c.num_multimask_outputs + 1) {
  const int64_t d = c.prompt_embed_dim;
  transformer = register_module("transformer", TwoWayTransformer(c));
  iou_token = register_module("iou_token", nn::Embedding(1, d));
  mask_tokens = register_module("mask_tokens", nn::Embedding(num_mask_tokens, d));
  output_upscaling = register_module(
      "output_upscaling",
      nn::Sequential(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(d, d / 4, 2).stride(2)), LayerNorm2d(d / 4), nn::GELU(),
                     nn::ConvTranspose2d(nn::ConvTranspose2dOptions(d / 4, d / 8, 2).stride(2)), nn::GELU()));
  output_hypernetworks_mlps = register_module("output_hypernetworks_mlps", nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens; ++i) output_hypernetworks_mlps->push_back(DecoderMlp(d, d, d / 8, 3));
  iou_prediction_head = register_module("iou_prediction_head", DecoderMlp(d, c.iou_head_hidden_dim, num_mask_tokens, c.iou_head_depth));
}

std::pair<torch::Tensor, torch::Tensor> MaskDecoderImpl::predict_masks(const torch::Tensor& image_embeddings, const torch::Tensor& image_pe,
                                                                       const torch::Tensor& sparse, const torch::Tensor& dense) {
  const int64_t b = sparse.size(0);
  const torch::Tensor output_tokens = torch::cat({iou_token->weight, mask_tokens->weight}, 0).unsqueeze(0).expand({b, -1, -1});
  const torch::Tensor tokens = torch::cat({output_tokens, sparse.to(output_tokens.dtype())}, 1);
  const torch::Tensor src = image_embeddings.expand({b, -1, -1, -1}) + dense;
  const torch::Tensor pos = image_pe.to(src.dtype()).expand({b, -1, -1, -1});
  const int64_t c = src.size(1), h = src.size(2), w = src.size(3);
  auto [hs, keys] = transformer(src, pos, tokens);
  const torch::Tensor iou_out = hs.select(1, 0);
  const torch::Tensor mask_out = hs.slice(1, 1, 1 + num_mask_tokens);
  const torch::Tensor up = output_upscaling->forward(keys.transpose(1, 2).reshape({b, c, h, w}));
  std::vector<torch::Tensor> hyper;
  for (int64_t i = 0; i < num_mask_tokens; ++i)
    hyper.push_back(output_hypernetworks_mlps[i]->as<DecoderMlpImpl>()->forward(mask_out.select(1, i)));
  const torch::Tensor hyper_in = torch::stack(hyper, 1);
  const int64_t uc = up.size(1), uh = up.size(2), uw = up.size(3);
  const torch::Tensor masks = torch::matmul(hyper_in, up.view({b, uc, uh * uw})).view({b, -1, uh, uw});
  return {masks, iou_prediction_head(iou_out)};
}

SamModelImpl::SamModelImpl(const SamConfig& c) {
  image_encoder = register_module("image_encoder", ImageEncoder(c));
  prompt_encoder = register_module("prompt_encoder", PromptEncoder(c));
  mask_decoder = register_module("mask_decoder", MaskDecoder(c));
}

}  // namespace osor::metrics::sam
