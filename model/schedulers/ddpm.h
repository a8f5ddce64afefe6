// diffusers DDPMScheduler (schedulers/scheduling_ddpm.py) as OSOR's one-step removal uses it
// (`DDPMScheduler.from_pretrained(base, subfolder="scheduler")` on SDXL-Inpainting's scheduler_config.json, whose
// _class_name is EulerDiscreteScheduler: only the shared keys are read, so no class check here):
//   β          linear:        linspace(β_start, β_end, T)                 float32, as torch.linspace
//              scaled_linear: linspace(√β_start, √β_end, T)²              float32 (SDXL: 0.00085..0.012, T = 1000)
//   ᾱ_t        = cumprod(1 − β)[t]                                        float32 table (CPU cumprod)
//   add_noise(x0, ε, t) = √ᾱ_t·x0 + √(1−ᾱ_t)·ε                           in x0's dtype (ᾱ cast to it first)
//   step(...).pred_original_sample: x0 = (x − √(1−ᾱ_t)·ε)/√ᾱ_t (epsilon) | √ᾱ_t·x − √(1−ᾱ_t)·v (v_prediction)
//                                   | the output (sample), clamped to ±clip_sample_range when clip_sample is set
// DDPMScheduler's defaults apply to keys a config lacks (notably clip_sample = true: SDXL's JSON sets false).
// trained_betas, thresholding and rescale_betas_zero_snr are refused. The same ᾱ table feeds
// model/schedulers/euler_discrete.h's σ table.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace osor::model {

class DiffusersConfig;

struct DdpmScheduleConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001, beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::string prediction_type = "epsilon";
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  // The keys above from a scheduler config (model/io/diffusers_config.h); ModelError on settings not implemented.
  static DdpmScheduleConfig from_config(const DiffusersConfig& config);
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
