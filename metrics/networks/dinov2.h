// DINOv2 as Hugging Face transformers' Dinov2Model (facebook/dinov2-giant for CFD): stride-14 patch conv, class
// token, learned position embeddings of the trained grid (37×37 for image_size 518) interpolated bicubically to the
// input's grid, pre-norm layers with layer scale and a SwiGLU (giant) or GELU MLP, final LayerNorm; the output is
// last_hidden_state [N, 1 + (H/14)(W/14), D]. Architecture from config.json; key names are HF's (embeddings.*,
// encoder.layer.<i>.*, layernorm.*).
//
// Position-embedding interpolation: transformers ≥ 4.45 interpolates to size=(H/14, W/14) (the default here, the
// version CFD's unpinned environment installs); older versions used scale_factor=((H/14 + 0.1)/37, …), which moves
// the features by up to ~0.7 — kept as an option. The interpolation runs in float32 whatever the model dtype, as HF.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osor::metrics {

struct Dinov2Config {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t patch_size = 14;
  int64_t image_size = 518;
  double mlp_ratio = 4;
  bool use_swiglu_ffn = false;
  bool qkv_bias = true;
  double layer_norm_eps = 1e-6;
  double layerscale_value = 1.0;
  std::string hidden_act = "gelu";

  // `text` is the JSON of config.json; `label` names it in errors. Absent fields take transformers' defaults.
  static Dinov2Config from_json_text(const std::string& text, const std::string& label);
  static Dinov2Config from_json_file(const std::filesystem::path& config_json);
};

enum class Dinov2PositionInterpolation {
  Size,              // transformers >= 4.45: interpolate(size=(H/p, W/p))
  LegacyScaleFactor  // transformers < 4.45: interpolate(scale_factor=((H/p + 0.1)/g, (W/p + 0.1)/g))
};

class Dinov2 {
 public:
  static Dinov2 load(const std::filesystem::path& config_json, const std::filesystem::path& weights,
                     const c10::Device& device);
  static Dinov2 load(const Dinov2Config& config, const std::filesystem::path& weights, const c10::Device& device);
  static Dinov2 random(const Dinov2Config& config, const c10::Device& device, uint64_t seed = 0);

  const Dinov2Config& config() const;
  c10::Device device() const;
  void set_position_interpolation(Dinov2PositionInterpolation mode);

  // pixel_values [N,3,H,W] (H, W multiples of the patch size are not required; the conv floors) →
  // last_hidden_state [N, 1 + (H/p)(W/p), D] float32 on the CPU.
  at::Tensor last_hidden_state(const at::Tensor& pixel_values) const;
  // The position-embedding table used for an H×W input, [1, 1 + (H/p)(W/p), D] float32 (CPU).
  at::Tensor position_embeddings_for(int64_t height, int64_t width) const;
  // Intermediate outputs of one batch for debugging: "embeddings", "encoder.layer.<i>", "last_hidden_state".
  std::vector<std::pair<std::string, at::Tensor>> hidden_states(const at::Tensor& pixel_values) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace osor::metrics
