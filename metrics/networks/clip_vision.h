// CLIP image tower as Hugging Face transformers' CLIPVisionModelWithProjection (openai/clip-vit-large-
// patch14-336 for CMMD): stride-p patch conv without bias, class token, position embeddings, pre-LN
// ("pre_layrnorm", HF's spelling), pre-norm encoder layers with quick_gelu MLPs, post_layernorm of the class
// token, visual_projection without bias. The architecture is read from config.json (the full CLIP config with
// a nested vision_config and top-level projection_dim, or a vision-only config), so a small configuration
// runs the same code. Key names are HF's: vision_model.*, visual_projection.weight (text_model.* ignored).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osor::metrics {

struct ClipVisionConfig {
  int64_t hidden_size = 1024;
  int64_t intermediate_size = 4096;
  int64_t num_hidden_layers = 24;
  int64_t num_attention_heads = 16;
  int64_t patch_size = 14;
  int64_t image_size = 336;
  int64_t projection_dim = 768;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" or "gelu"

  // Throws ModelError naming the file when it is unreadable or lacks a field without a default.
  static ClipVisionConfig from_json_file(const std::filesystem::path& config_json);
};

// The two reference preprocessings (both end in CLIP mean/std normalised float32 [N,3,S,S]).
enum class ClipPreprocess {
  CmmdCenterSquare,  // CMMD io_util: centre square crop, PIL bicubic to S×S on uint8, /255, normalise
  ClipProcessor      // CLIPImageProcessor: PIL bicubic shortest edge to S, centre crop S×S, /255, normalise
};
const char* to_string(ClipPreprocess mode);  // "cmmd", "clip-processor"

class ClipVision {
 public:
  static ClipVision load(const std::filesystem::path& config_json, const std::filesystem::path& weights,
                         const c10::Device& device);
  static ClipVision random(const ClipVisionConfig& config, const c10::Device& device, uint64_t seed = 0);

  const ClipVisionConfig& config() const;
  c10::Device device() const;

  // images [N,3,H,W] float in [0,1] (quantised to 8 bits) or uint8 → pixel_values [N,3,S,S] float32 on the
  // network's device. The PIL steps run on the CPU.
  at::Tensor preprocess(const at::Tensor& images, ClipPreprocess mode = ClipPreprocess::CmmdCenterSquare) const;
  // pixel_values → image_embeds [N,projection_dim] float32 (CPU), not normalised.
  at::Tensor image_embeds(const at::Tensor& pixel_values) const;
  // preprocess + image_embeds in batches of at most batch_size.
  at::Tensor forward(const at::Tensor& images, ClipPreprocess mode = ClipPreprocess::CmmdCenterSquare,
                     int64_t batch_size = 32) const;
  // Hidden states of one batch for debugging: embeddings, after_pre_layrnorm, layer{i}_out, pooler_output.
  std::vector<std::pair<std::string, at::Tensor>> hidden_states(const at::Tensor& pixel_values) const;

  double flops_per_image() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace osor::metrics
