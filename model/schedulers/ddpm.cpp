#include "model/schedulers/ddpm.h"

#include <cmath>

#include "model/error.h"
#include "model/io/diffusers_config.h"

namespace osor::model {

DdpmScheduleConfig DdpmScheduleConfig::from_config(const DiffusersConfig& config) {
  DdpmScheduleConfig c;
  c.num_train_timesteps = config.get("num_train_timesteps", c.num_train_timesteps);
  c.beta_start = config.get("beta_start", c.beta_start);
  c.beta_end = config.get("beta_end", c.beta_end);
  c.beta_schedule = config.choice("beta_schedule", c.beta_schedule, {"linear", "scaled_linear"});
  c.prediction_type = config.choice("prediction_type", c.prediction_type, {"epsilon", "v_prediction", "sample"});
  c.clip_sample = config.get("clip_sample", c.clip_sample);
  c.clip_sample_range = config.get("clip_sample_range", c.clip_sample_range);
  if (config.has("trained_betas")) config.fail("trained_betas is not supported");
  for (const char* key : {"thresholding", "rescale_betas_zero_snr"})
    if (config.get(key, false)) config.fail(std::string(key) + " is not supported");
  if (c.num_train_timesteps < 1) config.fail("num_train_timesteps must be positive");
  return c;
}

DdpmScheduleConfig DdpmScheduleConfig::from_json(const std::string& text, const std::string& source) {
  return from_config(DiffusersConfig::parse(text, "scheduler config", source));
}

DdpmScheduleConfig DdpmScheduleConfig::from_file(const std::filesystem::path& path) {
  return from_config(DiffusersConfig::read(path, "scheduler config"));
}

DdpmSchedule::DdpmSchedule(const DdpmScheduleConfig& config) : config_(config) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const int64_t n = config.num_train_timesteps;
  if (config.beta_schedule == "scaled_linear") {
    // PyTorch: linspace(√start, √end, n, float32) ** 2 (the float32 CPU linspace kernel, then a float32 square).
    const at::Tensor sq = at::linspace(std::sqrt(config.beta_start), std::sqrt(config.beta_end), n, f32);
    betas_ = at::pow(sq, 2);
  } else {
    betas_ = at::linspace(config.beta_start, config.beta_end, n, f32);
  }
  // CPU cumprod accumulates in double and stores float32, exactly what diffusers' table holds.
  alphas_cumprod_ = at::cumprod(1.0 - betas_, 0);
}

void DdpmSchedule::check_t(int64_t t) const {
  if (t < 0 || t >= config_.num_train_timesteps)
    throw ModelError("timestep " + std::to_string(t) + " is outside the schedule [0, " +
                     std::to_string(config_.num_train_timesteps) + ")");
}

at::Tensor DdpmSchedule::add_noise(const at::Tensor& x0, const at::Tensor& noise, int64_t t) const {
  check_t(t);
  // ᾱ_t stays a 0-dim CPU tensor (a kernel argument on any device): no host-to-device copy, so the call can be
  // recorded in a CUDA graph.
  const at::Tensor ac = alphas_cumprod_.to(x0.scalar_type())[t];
  return at::pow(ac, 0.5) * x0 + at::pow(1.0 - ac, 0.5) * noise.to(x0.options());
}

at::Tensor DdpmSchedule::predict_x0(const at::Tensor& model_output, int64_t t, const at::Tensor& sample) const {
  check_t(t);
  const at::Tensor alpha = alphas_cumprod_[t];  // 0-dim CPU tensor, as in add_noise
  const at::Tensor beta = 1.0 - alpha;
  const at::Tensor out = model_output.to(at::kFloat), x = sample.to(at::kFloat);
  at::Tensor x0;
  if (config_.prediction_type == "epsilon")
    x0 = (x - at::pow(beta, 0.5) * out) / at::pow(alpha, 0.5);
  else if (config_.prediction_type == "v_prediction")
    x0 = at::pow(alpha, 0.5) * x - at::pow(beta, 0.5) * out;
  else
    x0 = out;
  if (config_.clip_sample) x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  return x0;
}

}  // namespace osor::model
