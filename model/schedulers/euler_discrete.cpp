#include "model/schedulers/euler_discrete.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "model/error.h"
#include "model/io/diffusers_config.h"

namespace osor::model {
namespace {

// numpy's arange(start, stop, step) for doubles: length ceil((stop − start)/step), values start + i·δ with
// δ = (start + step) − start (numpy's DOUBLE_fill), which can differ from `step` in the last bit.
std::vector<double> numpy_arange(double start, double stop, double step) {
  const auto length = static_cast<int64_t>(std::ceil((stop - start) / step));
  std::vector<double> v(static_cast<size_t>(std::max<int64_t>(length, 0)));
  if (v.empty()) return v;
  v[0] = start;
  if (v.size() > 1) v[1] = start + step;
  const double delta = v.size() > 1 ? v[1] - v[0] : step;
  for (size_t i = 2; i < v.size(); ++i) v[i] = start + static_cast<double>(i) * delta;
  return v;
}

// np.interp(x, [0, 1, ..., len−1], fp) in float64, following numpy's branches (exact hits return fp[j]).
double numpy_interp_unit_grid(double x, const std::vector<float>& fp) {
  const auto last = static_cast<int64_t>(fp.size()) - 1;
  if (x < 0.0) return fp.front();
  if (x >= static_cast<double>(last)) return fp.back();
  const auto j = static_cast<int64_t>(std::floor(x));
  if (x == static_cast<double>(j)) return fp[j];
  const double slope = (static_cast<double>(fp[j + 1]) - static_cast<double>(fp[j])) / 1.0;
  return slope * (x - static_cast<double>(j)) + static_cast<double>(fp[j]);
}

}  // namespace

EulerDiscreteConfig EulerDiscreteConfig::from_config(const DiffusersConfig& config) {
  config.expect_class("EulerDiscreteScheduler",
                      " (sdxl-inpaint implements EulerDiscreteScheduler, the SDXL-Inpainting repository's scheduler)");
  EulerDiscreteConfig c;
  c.betas = DdpmScheduleConfig::from_config(config);
  c.timestep_spacing = config.choice("timestep_spacing", c.timestep_spacing, {"leading", "trailing", "linspace"});
  c.steps_offset = config.get("steps_offset", c.steps_offset);
  c.final_sigmas_type = config.choice("final_sigmas_type", c.final_sigmas_type, {"zero", "sigma_min"});
  for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"})
    if (config.get(key, false)) config.fail(std::string(key) + " is not supported");
  config.expect_one_of("interpolation_type", {"linear"}, " (linear)");
  config.expect_one_of("timestep_type", {"discrete"}, " (discrete)");
  return c;
}

EulerDiscreteConfig EulerDiscreteConfig::from_json(const std::string& text, const std::string& source) {
  return from_config(DiffusersConfig::parse(text, "scheduler config", source));
}

EulerDiscreteConfig EulerDiscreteConfig::from_file(const std::filesystem::path& path) {
  return from_config(DiffusersConfig::read(path, "scheduler config"));
}

EulerDiscreteScheduler::EulerDiscreteScheduler(const EulerDiscreteConfig& config) : config_(config) {
  // σ_train = ((1 − ᾱ) / ᾱ) ** 0.5 in float32, as diffusers computes it from the same ᾱ table.
  const at::Tensor ac = DdpmSchedule(config.betas).alphas_cumprod().to(at::kFloat).contiguous();
  const at::Tensor s = at::sqrt((1.0 - ac) / ac).contiguous();
  train_sigmas_.assign(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
}

void EulerDiscreteScheduler::set_timesteps(int64_t n) {
  if (n < 1)
    throw ModelError("EulerDiscreteScheduler: num_inference_steps must be at least 1 (got " + std::to_string(n) + ")");
  const int64_t T = config_.betas.num_train_timesteps;
  std::vector<float> ts;
  if (config_.timestep_spacing == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i)
      ts.push_back(static_cast<float>(i * ratio) + static_cast<float>(config_.steps_offset));
  } else if (config_.timestep_spacing == "trailing") {
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    // np.round is round-half-to-even, which std::nearbyint does in the default rounding mode.
    for (double v : numpy_arange(static_cast<double>(T), 0.0, -ratio))
      ts.push_back(static_cast<float>(std::nearbyint(v)) - 1.0f);
  } else {  // linspace: np.linspace(0, T − 1, n, dtype=float32)[::-1]
    const double stop = static_cast<double>(T - 1);
    for (int64_t i = n - 1; i >= 0; --i) {
      double v = n > 1 ? static_cast<double>(i) * (stop / static_cast<double>(n - 1)) : 0.0;
      if (n > 1 && i == n - 1) v = stop;
      ts.push_back(static_cast<float>(v));
    }
  }
  if (static_cast<int64_t>(ts.size()) != n)
    throw ModelError("EulerDiscreteScheduler: " + config_.timestep_spacing + " spacing gave " +
                     std::to_string(ts.size()) + " timesteps for " + std::to_string(n) + " steps");
  std::vector<float> sig;
  sig.reserve(ts.size() + 1);
  for (float t : ts) sig.push_back(static_cast<float>(numpy_interp_unit_grid(t, train_sigmas_)));
  sig.push_back(config_.final_sigmas_type == "sigma_min" ? train_sigmas_.front() : 0.0f);
  timesteps_ = std::move(ts);
  sigmas_ = std::move(sig);
}

float EulerDiscreteScheduler::init_noise_sigma() const {
  if (sigmas_.empty()) throw ModelError("EulerDiscreteScheduler: set_timesteps() was not called");
  const float m = *std::max_element(sigmas_.begin(), sigmas_.end());
  if (config_.timestep_spacing == "linspace" || config_.timestep_spacing == "trailing") return m;
  const float m2p1 = m * m + 1.0f;  // float32 throughout, as the 0-dim float32 tensor arithmetic of diffusers
  return std::sqrt(m2p1);
}

int64_t EulerDiscreteScheduler::start_index(double strength) const {
  if (!(strength >= 0.0 && strength <= 1.0))
    throw ModelError("strength must be in [0, 1] (got " + std::to_string(strength) + ")");
  const int64_t n = num_inference_steps();
  // Python's int() truncates toward zero; the product is the same IEEE double as in the pipeline.
  const int64_t init = std::min(static_cast<int64_t>(static_cast<double>(n) * strength), n);
  return std::max<int64_t>(n - init, 0);
}

void EulerDiscreteScheduler::check_index(int64_t index, int64_t limit) const {
  if (index < 0 || index >= limit)
    throw ModelError("EulerDiscreteScheduler: step index " + std::to_string(index) + " outside [0, " +
                     std::to_string(limit) + ") (set_timesteps first)");
}

at::Tensor EulerDiscreteScheduler::scale_model_input(const at::Tensor& sample, int64_t index) const {
  check_index(index, num_inference_steps());
  const float sigma = sigmas_[index];
  const float denom = std::sqrt(sigma * sigma + 1.0f);
  return sample / static_cast<double>(denom);
}

EulerStep EulerDiscreteScheduler::step(const at::Tensor& model_output, int64_t index, const at::Tensor& sample) const {
  check_index(index, num_inference_steps());
  const float sigma = sigmas_[index], sigma_next = sigmas_[index + 1];
  // diffusers upcasts the sample; σ·ε is formed in the model output's dtype (0-dim float32 σ does not promote).
  const at::Tensor x = sample.to(at::kFloat);
  at::Tensor x0;
  const std::string& type = config_.betas.prediction_type;
  if (type == "epsilon") {
    x0 = x - model_output * static_cast<double>(sigma);
  } else if (type == "v_prediction") {
    const float s2p1 = sigma * sigma + 1.0f;
    const float c_out = -sigma / std::sqrt(s2p1);
    x0 = model_output * static_cast<double>(c_out) + x / static_cast<double>(s2p1);
  } else {
    x0 = model_output;
  }
  x0 = x0.to(at::kFloat);
  const at::Tensor derivative = (x - x0) / static_cast<double>(sigma);
  const float dt = sigma_next - sigma;
  return {(x + derivative * static_cast<double>(dt)).to(model_output.scalar_type()), x0};
}

at::Tensor EulerDiscreteScheduler::add_noise(const at::Tensor& original, const at::Tensor& noise, int64_t index) const {
  check_index(index, static_cast<int64_t>(sigmas_.size()));
  // σ cast to the sample dtype first (diffusers: self.sigmas.to(dtype=original_samples.dtype)).
  const at::Tensor sigma = at::full({1, 1, 1, 1}, sigmas_[index], original.options());
  return original + noise.to(original.options()) * sigma;
}

}  // namespace osor::model
