// diffusers AutoencoderKL (the SDXL / SD / FLUX VAE family), built from its config.json and registered under
// diffusers' parameter names (encoder.down_blocks.0.resnets.0.conv1.weight, ..., quant_conv, post_quant_conv).
// Images are [B,3,H,W] in [-1,1]; latents are *unscaled* (the caller applies scaling_factor / shift_factor, as
// diffusers pipelines do). Posterior = DiagonalGaussianDistribution: mean, logvar clamped to [-30, 20],
// std = exp(logvar/2); OSOR takes a sample mean + std·noise (not the mode).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model {

class DiffusersConfig;

struct VaeConfig {
  int64_t in_channels = 3, out_channels = 3, latent_channels = 4, layers_per_block = 2, norm_num_groups = 32;
  std::vector<int64_t> block_out_channels = {128, 256, 512, 512};
  bool use_quant_conv = true, use_post_quant_conv = true, mid_block_add_attention = true;
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  // An fp16 pipeline runs this VAE in float32 (diffusers' default when the config lacks the key: true).
  bool force_upcast = true;
  // Reads diffusers' config.json (model/io/diffusers_config.h); ModelError on unsupported settings.
  static VaeConfig from_config(const DiffusersConfig& config);
  // The same from the file's text; `source` names it in errors.
  static VaeConfig from_json(const std::string& text, const std::string& source);
  static VaeConfig from_file(const std::filesystem::path& path);
};

struct Posterior {
  at::Tensor mean, logvar, std;
  at::Tensor sample(const at::Tensor& noise) const;  // mean + std · noise
};

class AutoencoderKL {
 public:
  // Parameters are created with `options` (device/dtype; the `meta` device builds without allocating) and
  // left uninitialised: load() or randomize() them.
  explicit AutoencoderKL(const VaeConfig& config, at::TensorOptions options = at::TensorOptions().dtype(at::kFloat));
  ~AutoencoderKL();
  AutoencoderKL(AutoencoderKL&&) noexcept;
  AutoencoderKL& operator=(AutoencoderKL&&) noexcept;

  const VaeConfig& config() const;
  Posterior encode(const at::Tensor& image) const;  // image in [-1,1], H and W multiples of 8
  // Differentiable w.r.t. the latent (the trainer's generator loss reaches the UNet through it).
  at::Tensor decode(const at::Tensor& latent) const;
  // Decodes overlapping latent tiles and blends them linearly across the overlap (diffusers' tiled_decode
  // scheme), bounding the decoder's activation memory for large images. Output differs from decode() near
  // tile seams (the decoder's receptive field is cut there).
  at::Tensor decode_tiled(const at::Tensor& latent, int64_t tile = 64, int64_t overlap = 16) const;

  // Strict load of diffusers' diffusion_pytorch_model.safetensors (every parameter, no extra key).
  void load(const std::vector<std::filesystem::path>& files);
  void randomize(uint64_t seed);
  int64_t parameter_count() const;
  at::TensorOptions options() const;
  torch::nn::Module& module();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
