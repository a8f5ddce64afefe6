#include "model/schedulers/flow_match_euler.h"

#include <ATen/ATen.h>

#include <cmath>

#include "model/error.h"
#include "model/io/diffusers_config.h"

namespace osor::model {

FlowMatchEulerConfig FlowMatchEulerConfig::from_config(const DiffusersConfig& config) {
  config.expect_class("FlowMatchEulerDiscreteScheduler",
                      " (flux-fill implements FlowMatchEulerDiscreteScheduler, FLUX.1-Fill's scheduler)");
  FlowMatchEulerConfig c;
  c.num_train_timesteps = config.get("num_train_timesteps", c.num_train_timesteps);
  c.shift = config.get("shift", c.shift);
  c.use_dynamic_shifting = config.get("use_dynamic_shifting", c.use_dynamic_shifting);
  c.base_shift = config.get("base_shift", c.base_shift);
  c.max_shift = config.get("max_shift", c.max_shift);
  c.base_image_seq_len = config.get("base_image_seq_len", c.base_image_seq_len);
  c.max_image_seq_len = config.get("max_image_seq_len", c.max_image_seq_len);
  for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "invert_sigmas"})
    if (config.get(key, false)) config.fail(std::string(key) + " is not supported");
  if (config.get("shift_terminal", 0.0) != 0.0) config.fail("shift_terminal is not supported");
  config.expect_one_of("time_shift_type", {"exponential"}, " (exponential)");
  if (c.num_train_timesteps < 1) config.fail("num_train_timesteps must be positive");
  if (c.max_image_seq_len == c.base_image_seq_len) config.fail("max_image_seq_len equals base_image_seq_len");
  return c;
}

FlowMatchEulerConfig FlowMatchEulerConfig::from_json(const std::string& text, const std::string& source) {
  return from_config(DiffusersConfig::parse(text, "scheduler config", source));
}

FlowMatchEulerConfig FlowMatchEulerConfig::from_file(const std::filesystem::path& path) {
  return from_config(DiffusersConfig::read(path, "scheduler config"));
}

FlowMatchEulerScheduler::FlowMatchEulerScheduler(const FlowMatchEulerConfig& config) : config_(config) {}

double FlowMatchEulerScheduler::mu(int64_t image_tokens) const {
  const auto& c = config_;
  const double m = (c.max_shift - c.base_shift) / static_cast<double>(c.max_image_seq_len - c.base_image_seq_len);
  const double b = c.base_shift - m * static_cast<double>(c.base_image_seq_len);
  return static_cast<double>(image_tokens) * m + b;
}

void FlowMatchEulerScheduler::set_timesteps(int64_t n, int64_t image_tokens) {
  if (n < 1)
    throw ModelError("FlowMatchEulerDiscreteScheduler: num_inference_steps must be at least 1 (got " +
                     std::to_string(n) + ")");
  // np.linspace(1.0, 1/n, n) in float64 (start + i·step, the last value exactly 1/n), then float32.
  std::vector<float> base(n);
  const double end = 1.0 / static_cast<double>(n);
  const double step = n > 1 ? (end - 1.0) / static_cast<double>(n - 1) : 0.0;
  for (int64_t i = 0; i < n; ++i) base[i] = static_cast<float>(i == n - 1 ? end : 1.0 + static_cast<double>(i) * step);
  // numpy float32 arithmetic, element by element as the float32 ufuncs do (Python scalars cast to float32).
  const at::Tensor s = at::tensor(base);
  at::Tensor shifted;
  if (config_.use_dynamic_shifting) {
    const at::Tensor e = at::scalar_tensor(static_cast<float>(std::exp(mu(image_tokens))), at::kFloat);
    shifted = e / (e + (1.0f / s - 1.0f));
  } else {
    const auto shift = static_cast<float>(config_.shift);
    shifted = shift * s / (1.0f + (shift - 1.0f) * s);
  }
  shifted = shifted.contiguous();
  const at::Tensor ts = (shifted * static_cast<float>(config_.num_train_timesteps)).contiguous();
  sigmas_.assign(shifted.data_ptr<float>(), shifted.data_ptr<float>() + n);
  sigmas_.push_back(0.0f);
  timesteps_.assign(ts.data_ptr<float>(), ts.data_ptr<float>() + n);
}

at::Tensor FlowMatchEulerScheduler::step(const at::Tensor& model_output, int64_t index, const at::Tensor& sample) const {
  if (index < 0 || index >= num_inference_steps())
    throw ModelError("FlowMatchEulerDiscreteScheduler: step index " + std::to_string(index) + " outside 0.." +
                     std::to_string(num_inference_steps() - 1));
  // (σ_{i+1} − σ_i) is a float32 0-d tensor in diffusers: it does not promote the model output's dtype.
  const at::Tensor dt = at::scalar_tensor(sigmas_[index + 1] - sigmas_[index],
                                          at::TensorOptions().dtype(at::kFloat).device(model_output.device()));
  return (sample.to(at::kFloat) + dt * model_output).to(model_output.scalar_type());
}

}  // namespace osor::model
