// segment-anything's modules (facebookresearch/segment-anything, segment_anything/modeling/), registered under the
// names of sam_vit_h_4b8939.pth so that named_parameters() is the checkpoint's key list. Private to
// metrics/networks/ (sam.h is the public face): image_encoder (ViT with windowed/global attention and decomposed
// relative positions, neck; sam_image_encoder.cpp), prompt_encoder (random-Fourier positions, point and mask
// embeddings; sam_prompt_encoder.cpp), mask_decoder (two-way transformer, upscaling, hypernetwork MLPs, IoU head;
// sam_mask_decoder.cpp).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "metrics/networks/sam.h"

namespace osor::metrics::sam {

namespace nn = torch::nn;

// common.LayerNorm2d: per-pixel normalisation over channels, eps 1e-6.
struct LayerNorm2dImpl : nn::Module {
  explicit LayerNorm2dImpl(int64_t channels, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE(LayerNorm2d);

// common.MLPBlock: lin1 → act → lin2 (GELU in the encoder, ReLU in the decoder's transformer).
struct MlpBlockImpl : nn::Module {
  MlpBlockImpl(int64_t dim, int64_t hidden, bool relu);
  torch::Tensor forward(const torch::Tensor& x);
  nn::Linear lin1{nullptr}, lin2{nullptr};
  bool relu;
};
TORCH_MODULE(MlpBlock);

// ---- image encoder ----
struct PatchEmbedImpl : nn::Module {
  PatchEmbedImpl(int64_t patch, int64_t dim);
  nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct EncoderAttentionImpl : nn::Module {
  EncoderAttentionImpl(int64_t dim, int64_t heads, bool qkv_bias, int64_t rel_size);
  torch::Tensor forward(const torch::Tensor& x);  // [B,H,W,D]
  int64_t num_heads;
  nn::Linear qkv{nullptr}, proj{nullptr};
  torch::Tensor rel_pos_h, rel_pos_w;
};
TORCH_MODULE(EncoderAttention);

struct EncoderBlockImpl : nn::Module {
  EncoderBlockImpl(const SamConfig& c, int64_t window);
  torch::Tensor forward(const torch::Tensor& x);  // [B,H,W,D]
  nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  EncoderAttention attn{nullptr};
  MlpBlock mlp{nullptr};
  int64_t window;
};
TORCH_MODULE(EncoderBlock);

struct ImageEncoderImpl : nn::Module {
  explicit ImageEncoderImpl(const SamConfig& c);
  // x [B,3,S,S] → [B,C,S/p,S/p]; `taps` gets "blocks.<i>" ([B,g,g,D]) and "neck".
  torch::Tensor forward(const torch::Tensor& x, std::vector<std::pair<std::string, torch::Tensor>>* taps = nullptr);
  PatchEmbed patch_embed{nullptr};
  torch::Tensor pos_embed;
  nn::ModuleList blocks{nullptr};
  nn::Sequential neck{nullptr};
};
TORCH_MODULE(ImageEncoder);

// ---- prompt encoder ----
struct PositionEmbeddingRandomImpl : nn::Module {
  explicit PositionEmbeddingRandomImpl(int64_t num_pos_feats);
  torch::Tensor encode(const torch::Tensor& coords01);  // float32 [...,2] in [0,1] → [...,2F]
  torch::Tensor positional_encoding_gaussian_matrix;
};
TORCH_MODULE(PositionEmbeddingRandom);

struct PromptEncoderImpl : nn::Module {
  explicit PromptEncoderImpl(const SamConfig& c);
  torch::Tensor dense_pe();  // [1,C,g,g], float32
  // points [B,N,2] in the model frame, labels [B,N] (1 fg, 0 bg, −1 padding) → sparse [B,N(+1),C]
  torch::Tensor embed_points(const torch::Tensor& points, const torch::Tensor& labels, bool pad);
  torch::Tensor no_mask_dense(int64_t batch);  // [B,C,g,g]
  PositionEmbeddingRandom pe_layer{nullptr};
  nn::ModuleList point_embeddings{nullptr};
  nn::Embedding not_a_point_embed{nullptr}, no_mask_embed{nullptr};
  nn::Sequential mask_downscaling{nullptr};
  int64_t grid, image_size;
};
TORCH_MODULE(PromptEncoder);

// ---- mask decoder ----
struct DecoderAttentionImpl : nn::Module {
  DecoderAttentionImpl(int64_t dim, int64_t heads, int64_t downsample);
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t num_heads;
};
TORCH_MODULE(DecoderAttention);

struct TwoWayBlockImpl : nn::Module {
  TwoWayBlockImpl(const SamConfig& c, bool skip_first_layer_pe);
  std::pair<torch::Tensor, torch::Tensor> forward(torch::Tensor queries, torch::Tensor keys, const torch::Tensor& query_pe,
                                                  const torch::Tensor& key_pe);
  DecoderAttention self_attn{nullptr}, cross_attn_token_to_image{nullptr}, cross_attn_image_to_token{nullptr};
  nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr}, norm4{nullptr};
  MlpBlock mlp{nullptr};
  bool skip_first_layer_pe;
};
TORCH_MODULE(TwoWayBlock);

struct TwoWayTransformerImpl : nn::Module {
  explicit TwoWayTransformerImpl(const SamConfig& c);
  // image [B,C,h,w], pe [B,C,h,w], points [B,N,C] → (queries [B,N,C], keys [B,hw,C])
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& image, const torch::Tensor& pe, const torch::Tensor& points);
  nn::ModuleList layers{nullptr};
  DecoderAttention final_attn_token_to_image{nullptr};
  nn::LayerNorm norm_final_attn{nullptr};
};
TORCH_MODULE(TwoWayTransformer);

// mask_decoder.MLP: `layers`, ReLU between them.
struct DecoderMlpImpl : nn::Module {
  DecoderMlpImpl(int64_t in, int64_t hidden, int64_t out, int64_t depth);
  torch::Tensor forward(torch::Tensor x);
  nn::ModuleList layers{nullptr};
};
TORCH_MODULE(DecoderMlp);

struct MaskDecoderImpl : nn::Module {
  explicit MaskDecoderImpl(const SamConfig& c);
  // Every mask token's output: masks [B,K+1,4g,4g], iou [B,K+1]. image_embeddings [1,C,g,g] serves the whole batch.
  std::pair<torch::Tensor, torch::Tensor> predict_masks(const torch::Tensor& image_embeddings, const torch::Tensor& image_pe,
                                                        const torch::Tensor& sparse, const torch::Tensor& dense);
  TwoWayTransformer transformer{nullptr};
  nn::Embedding iou_token{nullptr}, mask_tokens{nullptr};
  nn::Sequential output_upscaling{nullptr};
  nn::ModuleList output_hypernetworks_mlps{nullptr};
  DecoderMlp iou_prediction_head{nullptr};
  int64_t num_mask_tokens;
};
TORCH_MODULE(MaskDecoder);

struct SamModelImpl : nn::Module {
  explicit SamModelImpl(const SamConfig& c);
  ImageEncoder image_encoder{nullptr};
  PromptEncoder prompt_encoder{nullptr};
  MaskDecoder mask_decoder{nullptr};
};
TORCH_MODULE(SamModel);

}  // namespace osor::metrics::sam
