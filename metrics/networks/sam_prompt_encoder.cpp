// segment_anything/modeling/prompt_encoder.py: PromptEncoder (points; masks only as registered weights, CFD never
// passes a mask prompt) and PositionEmbeddingRandom. The positional encodings are float32 by construction: the
// reference casts the normalised coordinates to float32 and builds the dense grid in float32.
#include "metrics/networks/sam_modules.h"

#include <cmath>

namespace osor::metrics::sam {

PositionEmbeddingRandomImpl::PositionEmbeddingRandomImpl(int64_t num_pos_feats) {
  positional_encoding_gaussian_matrix = register_buffer("positional_encoding_gaussian_matrix", torch::randn({2, num_pos_feats}));
}

torch::Tensor PositionEmbeddingRandomImpl::encode(const torch::Tensor& coords01) {
  const torch::Tensor g = positional_encoding_gaussian_matrix.to(torch::kFloat);
  torch::Tensor c = 2 * coords01.to(torch::kFloat) - 1;
  c = torch::matmul(c, g);
  c = static_cast<float>(2 * M_PI) * c;
  return torch::cat({torch::sin(c), torch::cos(c)}, -1);
}

PromptEncoderImpl::PromptEncoderImpl(const SamConfig& c) : grid(c.grid()), image_size(c.image_size) {
  const int64_t d = c.prompt_embed_dim;
  pe_layer = register_module("pe_layer", PositionEmbeddingRandom(d / 2));
  point_embeddings = register_module("point_embeddings", nn::ModuleList());
  for (int i = 0; i < 4; ++i) point_embeddings->push_back(nn::Embedding(1, d));  // pos/neg point, 2 box corners
  not_a_point_embed = register_module("not_a_point_embed", nn::Embedding(1, d));
  const int64_t m = c.mask_in_chans;
  mask_downscaling = register_module(
      "mask_downscaling",
      nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, m / 4, 2).stride(2)), LayerNorm2d(m / 4), nn::GELU(),
                     nn::Conv2d(nn::Conv2dOptions(m / 4, m, 2).stride(2)), LayerNorm2d(m), nn::GELU(),
                     nn::Conv2d(nn::Conv2dOptions(m, d, 1))));
  no_mask_embed = register_module("no_mask_embed", nn::Embedding(1, d));
}

torch::Tensor PromptEncoderImpl::dense_pe() {
  const auto opt = torch::TensorOptions().dtype(torch::kFloat).device(pe_layer->positional_encoding_gaussian_matrix.device());
  const torch::Tensor ones = torch::ones({grid, grid}, opt);
  const torch::Tensor y = (ones.cumsum(0) - 0.5) / static_cast<double>(grid);
  const torch::Tensor x = (ones.cumsum(1) - 0.5) / static_cast<double>(grid);
  return pe_layer->encode(torch::stack({x, y}, -1)).permute({2, 0, 1}).unsqueeze(0);
}

torch::Tensor PromptEncoderImpl::embed_points(const torch::Tensor& points, const torch::Tensor& labels_in, bool pad) {
  torch::Tensor p = points.to(torch::kDouble) + 0.5;  // to the centre of the pixel
  torch::Tensor labels = labels_in.to(torch::kLong);
  if (pad) {
    p = torch::cat({p, torch::zeros({p.size(0), 1, 2}, p.options())}, 1);
    labels = torch::cat({labels, -torch::ones({labels.size(0), 1}, labels.options())}, 1);
  }
  // forward_with_coords: divide (in the coordinates' dtype), then float32.
  const torch::Tensor coords = torch::stack({p.select(-1, 0) / static_cast<double>(image_size), p.select(-1, 1) / static_cast<double>(image_size)}, -1);
  torch::Tensor e = pe_layer->encode(coords);
  const torch::Tensor pad_rows = labels.eq(-1).unsqueeze(-1);
  const auto weight = [&](int i) { return point_embeddings[i]->as<nn::EmbeddingImpl>()->weight.view({1, 1, -1}); };
  e = torch::where(pad_rows, not_a_point_embed->weight.view({1, 1, -1}).expand_as(e), e);
  e = e + labels.eq(0).unsqueeze(-1).to(e.dtype()) * weight(0) + labels.eq(1).unsqueeze(-1).to(e.dtype()) * weight(1);
  return e;
}

torch::Tensor PromptEncoderImpl::no_mask_dense(int64_t batch) {
  return no_mask_embed->weight.view({1, -1, 1, 1}).expand({batch, -1, grid, grid});
}

}  // namespace osor::metrics::sam
