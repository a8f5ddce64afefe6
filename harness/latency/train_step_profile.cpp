#include "harness/latency/train_step_profile.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "harness/latency/latency_profiler.h"
#include "harness/latency/system_info.h"
#include "metrics/networks/lpips_net.h"
#include "model/stage_timer.h"
#include "model/train/discriminator.h"
#include "model/train/generator_setup.h"
#include "model/train/train_config.h"
#include "model/train/trainer.h"

namespace osor::harness {
namespace {

namespace mt = model::train;

mt::TrainBatch synthetic_batch(const TrainStepConfig& c) {
  auto gen = at::detail::createCPUGenerator(c.seed + 100);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const int64_t n = c.batch, s = c.res;
  mt::TrainBatch b;
  b.bg = at::rand({n, 3, s, s}, gen, f32);
  b.mask = at::zeros({n, 1, s, s}, f32);
  b.mask.narrow(2, s / 4, s / 2).narrow(3, s / 4, s / 2).fill_(1);  // a centred quarter, as `osor latency`'s inputs
  b.shot = b.bg * (1 - b.mask) + b.mask * at::rand({n, 3, 1, 1}, gen, f32);
  return {b.shot.to(c.device), b.bg.to(c.device), b.mask.to(c.device), {}};
}

mt::Discriminator random_discriminator(const TrainStepConfig& c) {
  mt::Discriminator d(mt::discriminator_config_from_file(c.random_config_dir / "discriminator" / "config.json"));
  d.randomize(c.seed + 5);
  d.module().to(c.device);
  return d;
}

void check(const TrainStepConfig& c) {
  if (!mt::backbone_named(c.backbone))
    throw HarnessError("osor train-step: --backbone must be sdxl or flux, got " + c.backbone);
  if (c.phase != 1 && c.phase != 2) throw HarnessError("osor train-step: --phase must be 1 or 2");
  if (c.dtype != "bf16" && c.dtype != "fp32") throw HarnessError("osor train-step: --dtype must be bf16 or fp32");
  if (c.res < 96 || c.res % 16) throw HarnessError("osor train-step: --res must be a multiple of 16, at least 96");
  if (c.batch < 1 || c.warmup < 0 || c.iters < 1)
    throw HarnessError("osor train-step: --batch and --iters must be positive, --warmup at least 0");
  if (!std::filesystem::is_directory(c.random_config_dir))
    throw HarnessError("osor train-step: --random-weights " + c.random_config_dir.string() + " is not a folder");
}

double median(const std::vector<double>& v) { return v.empty() ? 0.0 : summarize_latency(v).median; }

}  // namespace

TrainStepProfile profile_train_step(const TrainStepConfig& c) {
  check(c);
  TrainStepProfile p;
  p.config = c;
  const double load_start = steady_clock_ms();
  mt::GeneratorSetup s;
  s.backbone = *mt::backbone_named(c.backbone);
  s.random_config_dir = c.random_config_dir;
  s.phase = c.phase;
  s.lora_rank = c.lora_rank;
  s.seed = c.seed;
  s.device = c.device;
  s.dtype = c.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  mt::TrainableGenerator g = mt::build_trainable_generator(s);
  g.generator->set_gradient_checkpointing(c.gradient_checkpointing);
  mt::Discriminator d = random_discriminator(c);
  const auto lpips_net = std::make_shared<metrics::LpipsNet>(metrics::LpipsNet::random(metrics::LpipsTrunk::Vgg, c.device, c.seed + 6));
  mt::TrainerOptions o;
  o.config = mt::TrainConfig::defaults(s.backbone, c.phase);
  o.phase = c.phase;
  o.seed = c.seed;
  o.mixed_precision = s.dtype;
  auto lpips = [lpips_net](const at::Tensor& x, const at::Tensor& y) { return lpips_net->per_layer_with_grad(x, y).sum(1).mean(); };
  mt::Trainer trainer(*g.generator, g.parameters, d, lpips, o);
  const mt::TrainBatch batch = synthetic_batch(c);
  model::synchronize_device(c.device);
  p.load_ms = steady_clock_ms() - load_start;
  p.description = g.description;
  p.trainable_tensors = static_cast<int64_t>(g.parameters.size());
  for (const auto& [name, t] : g.parameters) p.trainable_parameters += t.numel();

  reset_device_peak(c.device);
  const bool host_reset = reset_host_peak();
  auto timed_batch = [&](std::vector<std::pair<std::string, double>>& losses) {
    model::synchronize_device(c.device);
    const double t0 = steady_clock_ms();
    losses = trainer.train_on(batch).losses;
    model::synchronize_device(c.device);
    return steady_clock_ms() - t0;
  };
  for (int i = 0; i < c.warmup + c.iters; ++i) {
    std::vector<std::pair<std::string, double>> g_losses, d_losses;
    const double g_ms = timed_batch(g_losses), d_ms = timed_batch(d_losses);
    if (i < c.warmup) continue;
    p.generator_ms.push_back(g_ms);
    p.discriminator_ms.push_back(d_ms);
    p.step_ms.push_back(g_ms + d_ms);
    p.last_losses = g_losses;
    p.last_losses.insert(p.last_losses.end(), d_losses.begin(), d_losses.end());
  }
  p.host_peak = read_host_peak(host_reset);
  p.device_peak = read_device_peak(c.device);
  p.step_stats = summarize_latency(p.step_ms);
  p.generator_median_ms = median(p.generator_ms);
  p.discriminator_median_ms = median(p.discriminator_ms);
  return p;
}

nlohmann::json train_step_json(const TrainStepProfile& p) {
  const TrainStepConfig& c = p.config;
  nlohmann::json losses = nlohmann::json::object();
  for (const auto& [name, v] : p.last_losses) losses[name] = v;
  const double gib = 1024.0 * 1024.0 * 1024.0;
  auto in_gib = [&](int64_t bytes) { return bytes < 0 ? nlohmann::json(nullptr) : nlohmann::json(static_cast<double>(bytes) / gib); };
  return {{"format", "osor-train-step/1"},
          {"what", "one training step = one G batch + one D batch (osor train's step), synthetic batch, random weights"},
          {"backbone", c.backbone},
          {"phase", c.phase},
          {"configs", c.random_config_dir.string()},
          {"res", c.res},
          {"batch", c.batch},
          {"dtype", c.dtype},
          {"gradient_checkpointing", c.gradient_checkpointing},
          {"device", c.device.str()},
          {"warmup", c.warmup},
          {"iters", c.iters},
          {"generator", p.description},
          {"trainable_tensors", p.trainable_tensors},
          {"trainable_parameters", p.trainable_parameters},
          {"load_ms", p.load_ms},
          {"step_ms", p.step_ms},
          {"step_median_ms", p.step_stats.median},
          {"steps_per_second", p.step_stats.median > 0 ? 1000.0 / p.step_stats.median : 0.0},
          {"generator_batch_median_ms", p.generator_median_ms},
          {"discriminator_batch_median_ms", p.discriminator_median_ms},
          {"device_peak_allocated_gib", in_gib(p.device_peak.allocated_bytes)},
          {"device_peak_reserved_gib", in_gib(p.device_peak.reserved_bytes)},
          {"host_peak_rss_gib", in_gib(p.host_peak.bytes)},
          {"host_peak_since_reset", p.host_peak.since_reset},
          {"last_losses", losses},
          {"system", describe_system(c.device)}};
}

}  // namespace osor::harness
