// Segment Anything (Kirillov et al., 2023; facebookresearch/segment-anything) as CFD uses it: `Sam` built by
// build_sam._build_sam (ViT-H: sam_vit_h_4b8939.pth, its key names), SamPredictor's preprocessing
// (ResizeLongestSide with Pillow bilinear on the uint8 picture, (x − mean)/std, zero pad to S×S), the image encoder,
// the prompt encoder for points, the mask decoder, and postprocess_masks. The sizes that _build_sam hard-codes
// (prompt dim 256, image size 1024, patch 16, decoder sizes) are config fields here, so a tiny configuration runs the
// same code. The encoder runs once per picture; the decoder takes a batch of point prompts against that embedding.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osor::metrics {

struct SamConfig {
  int64_t encoder_embed_dim = 1280, encoder_depth = 32, encoder_num_heads = 16;
  std::vector<int64_t> encoder_global_attn_indexes{7, 15, 23, 31};
  int64_t prompt_embed_dim = 256, image_size = 1024, vit_patch_size = 16, window_size = 14;
  double mlp_ratio = 4;
  int64_t mask_in_chans = 16;
  int64_t decoder_depth = 2, decoder_mlp_dim = 2048, decoder_num_heads = 8;
  int64_t num_multimask_outputs = 3, iou_head_depth = 3, iou_head_hidden_dim = 256;
  std::array<double, 3> pixel_mean{123.675, 116.28, 103.53}, pixel_std{58.395, 57.12, 57.375};
  double layer_norm_eps = 1e-6;
  bool qkv_bias = true, use_rel_pos = true;

  static SamConfig vit_h();  // the defaults above
  // The arguments of _build_sam as JSON (the fields above; absent ones keep ViT-H's). `label` names it in errors.
  static SamConfig from_json_text(const std::string& text, const std::string& label);
  int64_t grid() const { return image_size / vit_patch_size; }
};

// One picture as the predictor holds it after set_image.
struct SamImage {
  at::Tensor embeddings;                // [1,C,g,g] float32 on the model's device
  std::array<int64_t, 2> original_size{};  // (H, W) of the picture
  std::array<int64_t, 2> input_size{};     // (h, w) after ResizeLongestSide
};

struct SamPrediction {
  at::Tensor low_res_logits;   // [B,K,S/4,S/4] float32 (K = num_multimask_outputs, or 1)
  at::Tensor iou_predictions;  // [B,K] float32
};

// ResizeLongestSide.get_preprocess_shape: (int(h·s + 0.5), int(w·s + 0.5)), s = long_side / max(h, w).
std::array<int64_t, 2> sam_preprocess_shape(int64_t h, int64_t w, int64_t long_side);
// Sam.postprocess_masks for a model of input size image_size: bilinear to image_size², crop input_size, bilinear to
// original_size (align_corners False), on the logits' device and dtype.
at::Tensor sam_postprocess_masks(const at::Tensor& low_res, int64_t image_size, const std::array<int64_t, 2>& input_size,
                                 const std::array<int64_t, 2>& original_size);

class Sam {
 public:
  // weights: safetensors or the published .pth (read natively, nothing executed), with Sam.state_dict() key names.
  static Sam load(const SamConfig& config, const std::filesystem::path& weights, const c10::Device& device);
  static Sam random(const SamConfig& config, const c10::Device& device, uint64_t seed = 0);

  const SamConfig& config() const;
  c10::Device device() const;

  // ResizeLongestSide.get_preprocess_shape: (int(h·s + 0.5), int(w·s + 0.5)), s = S / max(h, w).
  std::array<int64_t, 2> preprocess_shape(int64_t h, int64_t w) const;
  // picture uint8 [3,H,W] → the resized uint8 [3,h,w] (Pillow bilinear, as torchvision's PIL resize).
  at::Tensor resize_longest_side(const at::Tensor& picture_u8) const;
  // resized uint8 [3,h,w] → [1,3,S,S] float32, normalised and zero padded (Sam.preprocess).
  at::Tensor input_tensor(const at::Tensor& resized_u8) const;
  // SamPredictor.set_image: resize, preprocess, encode.
  SamImage set_image(const at::Tensor& picture_u8) const;
  at::Tensor image_embeddings(const at::Tensor& input_tensor) const;
  // Encoder block outputs "blocks.<i>" and "neck" for debugging.
  std::vector<std::pair<std::string, at::Tensor>> encoder_hidden_states(const at::Tensor& input_tensor) const;

  // ResizeLongestSide.apply_coords: points [...,2] (x, y) of the picture → the model frame, float64.
  at::Tensor apply_coords(const at::Tensor& points, const std::array<int64_t, 2>& original_size) const;
  at::Tensor dense_pe() const;  // prompt_encoder.get_dense_pe(), [1,C,g,g]
  // Prompt encoder for points only: points [B,N,2] in the model frame, labels [B,N] → (sparse [B,N+1,C], dense).
  std::pair<at::Tensor, at::Tensor> prompt_embeddings(const at::Tensor& points, const at::Tensor& labels) const;
  // Mask decoder on a batch of point prompts (model frame) against one image.
  SamPrediction predict(const SamImage& image, const at::Tensor& points, const at::Tensor& labels, bool multimask_output) const;
  // Sam.postprocess_masks: bilinear to S×S, crop input_size, bilinear to original_size (align_corners False).
  at::Tensor postprocess_masks(const at::Tensor& low_res, const std::array<int64_t, 2>& input_size,
                               const std::array<int64_t, 2>& original_size) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace osor::metrics
