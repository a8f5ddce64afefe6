#include "model/schedule.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/error.h"

namespace osor::model {

DdpmScheduleConfig DdpmScheduleConfig::from_json(const std::string& text, const std::string& source) {
  auto fail = [&](const std::string& what) { throw ModelError("scheduler config " + source + ": " + what); };
  DdpmScheduleConfig c;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key) && !j[key].is_null()) field = j[key].get<std::decay_t<decltype(field)>>();
    };
    get("num_train_timesteps", c.num_train_timesteps);
    get("beta_start", c.beta_start);
    get("beta_end", c.beta_end);
    get("beta_schedule", c.beta_schedule);
    get("prediction_type", c.prediction_type);
    get("clip_sample", c.clip_sample);
    get("clip_sample_range", c.clip_sample_range);
    if (j.contains("trained_betas") && !j["trained_betas"].is_null()) fail("trained_betas is not supported");
    if (j.value("thresholding", false)) fail("thresholding is not supported");
    if (j.value("rescale_betas_zero_snr", false)) fail("rescale_betas_zero_snr is not supported");
  } catch (const nlohmann::json::exception& e) {
    fail(e.what());
  }
  if (c.beta_schedule != "linear" && c.beta_schedule != "scaled_linear")
    fail("beta_schedule " + c.beta_schedule + " is not supported (linear, scaled_linear)");
  if (c.prediction_type != "epsilon" && c.prediction_type != "v_prediction" && c.prediction_type != "sample")
    fail("prediction_type " + c.prediction_type + " is not supported (epsilon, v_prediction, sample)");
  if (c.num_train_timesteps < 1) fail("num_train_timesteps must be positive");
  return c;
}

DdpmScheduleConfig DdpmScheduleConfig::from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ModelError("scheduler config " + path.string() + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return from_json(text.str(), path.string());
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
