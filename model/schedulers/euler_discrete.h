// diffusers EulerDiscreteScheduler as StableDiffusionXLInpaintPipeline drives it (diffusers v0.32.2 .. 0.40,
// schedulers/scheduling_euler_discrete.py), with SDXL's scheduler_config.json: scaled_linear 0.00085..0.012,
// timestep_spacing "leading", steps_offset 1, prediction_type epsilon, interpolation_type linear.
//   σ_train[t] = √((1 − ᾱ_t) / ᾱ_t)            float32, ᾱ from the β table of model/schedulers/ddpm.h (as diffusers)
//   timesteps  leading:  (arange(n) · (T div n)).round() reversed + steps_offset
//              trailing: arange(T, 0, −T/n).round() − 1      (numpy's arange and round-half-to-even)
//              linspace: linspace(0, T − 1, n) reversed     (float32, not integers)
//   σ_i        = interp(timesteps_i, 0..T−1, σ_train) in float64, stored float32; σ_n = 0 (final_sigmas_type
//                "zero") or σ_train[0] ("sigma_min")
//   init_noise_sigma = √(max σ² + 1) for leading, max σ otherwise
//   scale_model_input(x, i) = x / √(σ_i² + 1)
//   step(ε, i, x): x0 = x − σ_i·ε (epsilon) | ε·(−σ_i/√(σ_i²+1)) + x/(σ_i²+1) (v_prediction) | ε (sample);
//                  x_prev = x + (x − x0)/σ_i · (σ_{i+1} − σ_i), computed in float32, returned in ε's dtype
//   add_noise(x0, n, i) = x0 + n·σ_i                                 (σ cast to x0's dtype first)
// diffusers' scheduler is stateful (step_index / begin_index); the pipeline always sets begin_index, so here
// every call names its index i into timesteps()/sigmas() instead. s_churn = 0 (the pipeline's default): no
// stochastic term, no draws. Karras/exponential/beta sigmas, log_linear interpolation, continuous timesteps and
// rescale_betas_zero_snr are rejected by the config reader with a message naming the key.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/schedulers/ddpm.h"

namespace osor::model {

class DiffusersConfig;

struct EulerDiscreteConfig {
  DdpmScheduleConfig betas;  // num_train_timesteps, beta_start/end, beta_schedule, prediction_type
  std::string timestep_spacing = "linspace";  // diffusers' defaults for keys a config lacks
  int64_t steps_offset = 0;
  std::string final_sigmas_type = "zero";
  // Reads scheduler_config.json (model/io/diffusers_config.h); ModelError on another _class_name or on settings
  // not implemented.
  static EulerDiscreteConfig from_config(const DiffusersConfig& config);
  static EulerDiscreteConfig from_json(const std::string& text, const std::string& source);
  static EulerDiscreteConfig from_file(const std::filesystem::path& path);
};

struct EulerStep {
  at::Tensor prev_sample;           // in the model output's dtype
  at::Tensor pred_original_sample;  // float32
};

class EulerDiscreteScheduler {
 public:
  explicit EulerDiscreteScheduler(const EulerDiscreteConfig& config);
  const EulerDiscreteConfig& config() const { return config_; }

  void set_timesteps(int64_t num_inference_steps);
  int64_t num_inference_steps() const { return static_cast<int64_t>(timesteps_.size()); }
  const std::vector<float>& timesteps() const { return timesteps_; }  // n values, descending
  const std::vector<float>& sigmas() const { return sigmas_; }        // n + 1 values, the last σ_n
  float init_noise_sigma() const;

  // The pipeline's get_timesteps(n, strength): init = min(int(n·strength), n), t_start = n − init. The loop runs
  // indices t_start..n−1 (n − t_start UNet evaluations) and the image latents are noised to σ[t_start].
  int64_t start_index(double strength) const;

  at::Tensor scale_model_input(const at::Tensor& sample, int64_t index) const;
  EulerStep step(const at::Tensor& model_output, int64_t index, const at::Tensor& sample) const;
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int64_t index) const;

 private:
  void check_index(int64_t index, int64_t limit) const;
  EulerDiscreteConfig config_;
  std::vector<float> train_sigmas_;  // σ_train[0..T−1]
  std::vector<float> timesteps_, sigmas_;
};

}  // namespace osor::model
