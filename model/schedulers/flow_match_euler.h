// diffusers FlowMatchEulerDiscreteScheduler as FluxFillPipeline drives it (diffusers v0.32.2,
// schedulers/scheduling_flow_match_euler_discrete.py; pipelines/flux/pipeline_flux_fill.py), with FLUX.1-Fill's
// scheduler_config.json (shift 3.0, use_dynamic_shifting true, base_shift 0.5, max_shift 1.15, base_image_seq_len
// 256, max_image_seq_len 4096, 1000 train steps):
//   σ̂_i   = float32(linspace(1, 1/n, n))                      the pipeline's float64 numpy linspace, cast
//   mu    = L·m + b, m = (max_shift − base_shift)/(max_len − base_len), b = base_shift − m·base_len   (float64;
//           L = the number of image tokens)
//   σ_i   = e / (e + (1/σ̂_i − 1))  with e = float32(exp(mu))     dynamic shift, numpy float32 arithmetic
//         = shift·σ̂ / (1 + (shift − 1)·σ̂)                          without dynamic shifting (float32)
//   t_i   = σ_i · num_train_timesteps (float32);  σ_n = 0
//   step(v, i, x) = (float32(x) + (σ_{i+1} − σ_i)·v) in v's dtype     (the difference a float32 scalar)
// diffusers' scheduler is stateful (step_index); here every call names its index i. Karras / exponential / beta
// sigmas, shift_terminal and invert_sigmas are rejected by the config reader with a message naming the key.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace osor::model {

class DiffusersConfig;

struct FlowMatchEulerConfig {
  int64_t num_train_timesteps = 1000;
  double shift = 1.0;
  bool use_dynamic_shifting = false;
  double base_shift = 0.5, max_shift = 1.15;
  int64_t base_image_seq_len = 256, max_image_seq_len = 4096;
  // ModelError on another _class_name or on settings not implemented.
  static FlowMatchEulerConfig from_config(const DiffusersConfig& config);
  static FlowMatchEulerConfig from_json(const std::string& text, const std::string& source);
  static FlowMatchEulerConfig from_file(const std::filesystem::path& path);
};

class FlowMatchEulerScheduler {
 public:
  explicit FlowMatchEulerScheduler(const FlowMatchEulerConfig& config);
  const FlowMatchEulerConfig& config() const { return config_; }

  // The pipeline's calculate_shift(image_seq_len, ...): mu for `image_tokens` packed image tokens.
  double mu(int64_t image_tokens) const;
  // The pipeline's sigmas = linspace(1, 1/n, n) through set_timesteps(sigmas=..., mu=mu(image_tokens)).
  void set_timesteps(int64_t num_inference_steps, int64_t image_tokens);
  int64_t num_inference_steps() const { return static_cast<int64_t>(timesteps_.size()); }
  const std::vector<float>& timesteps() const { return timesteps_; }  // n values, descending
  const std::vector<float>& sigmas() const { return sigmas_; }        // n + 1 values, σ_n = 0

  at::Tensor step(const at::Tensor& model_output, int64_t index, const at::Tensor& sample) const;

 private:
  FlowMatchEulerConfig config_;
  std::vector<float> timesteps_, sigmas_;
};

}  // namespace osor::model
