// diffusers DDPMScheduler as OSOR uses it for one-step removal (`DDPMScheduler.from_pretrained(base,
// subfolder="scheduler")`): the β table from the scheduler config (linear or scaled_linear), forward noising
// add_noise(x0, ε, t) = √ᾱ_t·x0 + √(1−ᾱ_t)·ε, and step(...).pred_original_sample — the x0 estimate for
// prediction_type epsilon / v_prediction / sample, clamped to ±clip_sample_range when clip_sample is set.
// DDPMScheduler's defaults apply to keys a config lacks (notably clip_sample = true: SDXL's JSON sets false).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

namespace osor::model {

struct DdpmScheduleConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001, beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::string prediction_type = "epsilon";
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  static DdpmScheduleConfig from_json(const std::string& text, const std::string& source);
  static DdpmScheduleConfig from_file(const std::filesystem::path& path);
};

class DdpmSchedule {
 public:
  explicit DdpmSchedule(const DdpmScheduleConfig& config);
  const DdpmScheduleConfig& config() const { return config_; }
  // float32 [T], built like PyTorch does (float32 linspace, squared; cumprod on the CPU).
  const at::Tensor& betas() const { return betas_; }
  const at::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  // In the dtype of x0 (as diffusers casts ᾱ to the sample dtype first).
  at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& noise, int64_t t) const;
  // The x0 estimate of step(model_output, t, sample), computed in float32 (returned as float32).
  at::Tensor predict_x0(const at::Tensor& model_output, int64_t t, const at::Tensor& sample) const;

 private:
  void check_t(int64_t t) const;
  DdpmScheduleConfig config_;
  at::Tensor betas_, alphas_cumprod_;
};

}  // namespace osor::model
