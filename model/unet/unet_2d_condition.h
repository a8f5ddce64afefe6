// diffusers UNet2DConditionModel as the SDXL family configures it (SDXL-base: 4 input channels; SDXL-inpainting:
// 9 = [noisy latent 4 | mask 1 | conditioning latent 4]), built from its config.json and registered under
// diffusers' parameter names (conv_in, time_embedding.linear_1, add_embedding, down_blocks.1.attentions.0.
// transformer_blocks.0.attn1.to_q, ...), so the checkpoint's diffusion_pytorch_model.safetensors loads strictly.
// Supported: DownBlock2D / CrossAttnDownBlock2D, UpBlock2D / CrossAttnUpBlock2D, UNetMidBlock2DCrossAttn,
// addition_embed_type text_time (or none), linear or 1×1-conv projections, positional time embedding, SiLU.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model {

class DiffusersConfig;

struct UNetConfig {
  int64_t in_channels = 4, out_channels = 4, layers_per_block = 2, norm_num_groups = 32;
  int64_t cross_attention_dim = 2048, addition_time_embed_dim = 256, projection_class_embeddings_input_dim = 2816;
  int64_t downsample_padding = 1, conv_in_kernel = 3, conv_out_kernel = 3, time_embedding_dim = 0;  // 0: 4·C0
  double norm_eps = 1e-5, freq_shift = 0.0;
  bool flip_sin_to_cos = true, use_linear_projection = true, mid_block = true;
  std::string addition_embed_type;  // "text_time" or empty
  std::vector<int64_t> block_out_channels = {320, 640, 1280};
  std::vector<std::string> down_block_types = {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"};
  std::vector<std::string> up_block_types = {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"};
  std::vector<int64_t> transformer_layers_per_block = {1, 2, 10};   // per down block (mid uses the last)
  std::vector<int64_t> reverse_transformer_layers_per_block;        // per up block; empty: reversed above
  std::vector<int64_t> num_attention_heads = {5, 10, 20};           // per block (legacy "attention_head_dim")
  // Reads diffusers' config.json (model/io/diffusers_config.h); ModelError on settings this port does not implement.
  static UNetConfig from_config(const DiffusersConfig& config);
  // The same from the file's text; `source` names it in errors.
  static UNetConfig from_json(const std::string& text, const std::string& source);
  static UNetConfig from_file(const std::filesystem::path& path);
};

class UNet2DConditionModel {
 public:
  // Parameters created with `options` (the `meta` device builds without allocating), uninitialised.
  explicit UNet2DConditionModel(const UNetConfig& config,
                                at::TensorOptions options = at::TensorOptions().dtype(at::kFloat));
  ~UNet2DConditionModel();
  UNet2DConditionModel(UNet2DConditionModel&&) noexcept;
  UNet2DConditionModel& operator=(UNet2DConditionModel&&) noexcept;

  // sample [B,in,h,w]; timestep [B] or [] (int64 or float); encoder_hidden_states [B,L,cross_dim];
  // text_embeds [B,pooled] and time_ids [B,6] for text_time (ignored otherwise). Returns [B,out,h,w] in the
  // model dtype. Any h, w ≥ 1: sizes not divisible by 2^levels take diffusers' upsample_size path.
  // Differentiable (the trainer back-propagates through it): callers that need no gradients hold a no-grad
  // guard; frozen weights and inputs without gradients record nothing either way.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep, const at::Tensor& encoder_hidden_states,
                     const at::Tensor& text_embeds, const at::Tensor& time_ids) const;

  // The layout the network runs in: Contiguous (NCHW, diffusers' default) or ChannelsLast (NHWC: convolution
  // weights stored so, the sample converted on entry, activations kept NHWC; cuDNN's tensor-core kernels are NHWC).
  // The result is returned NCHW either way and equals the NCHW result up to the kernels' summation order. Call it
  // after loading the weights; later replacements keep the layout.
  void set_memory_format(at::MemoryFormat format);
  at::MemoryFormat memory_format() const;

  // Gradient checkpointing (diffusers' enable_gradient_checkpointing; model/nn/activation_checkpoint.h): while grad
  // mode is on, each resnet of the down and up blocks, the mid block's second resnet and each transformer block of
  // the attentions keep no activations and are recomputed in backward: less memory, one more forward of those
  // blocks, the same values and gradients. Off by default; inference (grad mode off) is unaffected.
  void set_gradient_checkpointing(bool enabled);
  bool gradient_checkpointing() const;

  const UNetConfig& config() const;
  int64_t conv_out_channels() const;  // 4, or 5 once OSOR's alpha head is loaded
  at::TensorOptions options() const;
  void load(const std::vector<std::filesystem::path>& files);  // strict, diffusers key names
  void randomize(uint64_t seed);
  int64_t parameter_count() const;
  torch::nn::Module& module();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
