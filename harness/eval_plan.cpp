#include "harness/eval_plan.h"

#include <ATen/ATen.h>

#include <map>
#include <optional>
#include <torch/version.h>

#include "adapters/error.h"
#include "adapters/registry.h"
#include "harness/error.h"

namespace fs = std::filesystem;

namespace osor::harness {
namespace {

MetricPlan plan_metrics(const EvalConfig& config, const metrics::NetworkOptions& network) {
  MetricPlan plan;
  std::vector<std::string> names = config.metrics;
  const bool all = names.empty();
  if (all)
    for (const auto& e : metrics::metric_entries()) names.push_back(e.name);
  for (const std::string& name : names) {
    std::vector<std::string> missing;
    try {
      missing = metrics::missing_weights(name, network);
    } catch (const Error& e) {
      throw HarnessError(std::string("--metrics: ") + e.what());
    }
    if (!missing.empty()) {
      std::string reason;
      for (const auto& m : missing) reason += (reason.empty() ? "" : "; ") + m;
      plan.skipped.emplace_back(name, reason);
      continue;
    }
    if (metrics::is_image_metric(name)) {
      auto metric = metrics::make_image_metric(name, config.pixels, network);
      const auto& spec = metric->spec();
      plan.infos.push_back({spec.name, spec.convention, spec.version, spec.higher_is_better, true});
      plan.image.push_back(std::move(metric));
    } else if (metrics::is_set_metric(name)) {
      auto metric = metrics::make_set_metric(name, network);
      const auto& spec = metric->spec();
      plan.infos.push_back({spec.name, spec.convention, spec.version, spec.higher_is_better, false});
      plan.set.push_back(std::move(metric));
    } else if (!all) {
      metrics::make_image_metric(name, config.pixels, network);  // throws: unknown metric, listing the known
    } else {
      plan.skipped.emplace_back(name, "not computed by osor eval in this build");
    }
  }
  return plan;
}


// `--device cuda` on a CPU build, or a GPU index beyond the machine's: one line, before anything is written.
void check_device(const std::string& text) {
  std::optional<at::Device> device;
  try {
    device = at::Device(text);
  } catch (const std::exception&) {
    throw HarnessError("--device " + text + ": not a device (cpu, cuda or cuda:N)");
  }
  if (device->is_cpu()) return;
  if (!device->is_cuda()) throw HarnessError("--device " + text + ": only cpu and cuda[:N] are supported");
  if (!at::hasCUDA())
    throw HarnessError("--device " + text + ": this osor is built against a LibTorch without CUDA (" + TORCH_VERSION +
                       ", CPU only) or no GPU is visible; use --device cpu, or build against a CUDA LibTorch");
  const auto count = static_cast<int64_t>(at::getNumGPUs());
  if (device->has_index() && device->index() >= count)
    throw HarnessError("--device " + text + ": this machine has " + std::to_string(count) + " GPU(s)");
}


}  // namespace

std::string error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

std::vector<MethodPlan> plan_methods(const std::vector<std::string>& texts) {
  if (texts.empty()) throw HarnessError("--method: no method to evaluate");
  std::vector<MethodPlan> methods;
  std::map<std::string, std::string> text_of_label;
  for (const auto& text : texts) {
    MethodPlan m;
    try {
      m.spec = adapters::MethodSpec::parse(text);
      adapters::check_method_known(m.spec);
    } catch (const Error& e) {
      throw HarnessError(std::string("--method: ") + e.what());
    }
    m.label = adapters::method_label(m.spec);
    const auto [it, fresh] = text_of_label.emplace(m.label, text);
    if (!fresh)
      throw HarnessError("--method: '" + it->second + "' and '" + text + "' have the same label '" + m.label +
                         "'; give each its own with name=LABEL");
    methods.push_back(std::move(m));
  }
  return methods;
}


std::vector<BenchPlan> plan_benches(const EvalConfig& config) {
  for (const auto& m : config.masks)
    if (m != "object" && m != "effect") throw HarnessError("--masks: unknown mask setting '" + m + "' (object, effect)");
  if (config.masks.empty()) throw HarnessError("--masks: no mask setting");
  std::vector<BenchPlan> benches;
  for (const auto& name : config.benches) {
    BenchPlan b;
    std::vector<fs::path> folders = {config.bench_dir};
    folders.insert(folders.end(), config.extra_bench_dirs.begin(), config.extra_bench_dirs.end());
    b.spec = find_benchmark(name, folders);
    b.samples = list_samples(b.spec, config.data_dir);
    if (b.samples.empty())
      throw HarnessError("benchmark " + name + ": no samples found under " + benchmark_root(b.spec, config.data_dir).string());
    if (config.limit > 0 && static_cast<int>(b.samples.size()) > config.limit) b.samples.resize(static_cast<size_t>(config.limit));
    for (const auto& m : config.masks)
      if (m == "object" || !b.spec.effect_mask.empty()) b.masks.push_back(m);
    benches.push_back(std::move(b));
  }
  if (benches.empty()) throw HarnessError("--bench: no benchmark");
  return benches;
}

int64_t work_item(const EvalPlan& plan, const BenchPlan& bench, size_t sample, size_t method, size_t masks) {
  return bench.first_item +
         static_cast<int64_t>((sample * plan.methods.size() + method) * bench.masks.size() + masks);
}

EvalPlan plan_eval(const EvalConfig& config) {
  EvalPlan plan;
  plan.config = config;
  check_device(config.device);
  if (config.bootstrap_resamples < 1) throw HarnessError("--bootstrap must be at least 1");
  if (config.limit < 0) throw HarnessError("--limit must be 0 (all) or positive");
  plan.methods = plan_methods(config.methods);
  plan.benches = plan_benches(config);
  plan.network.weights_dir = config.weights_dir;
  plan.network.device = config.device;
  plan.network.cfd_mode = config.cfd_mode;
  plan.metrics = plan_metrics(config, plan.network);
  int64_t items = 0;
  for (auto& b : plan.benches) {
    b.first_item = items;
    const auto n = static_cast<int64_t>(b.samples.size() * b.masks.size() * plan.methods.size());
    for (int64_t i = items; i < items + n; ++i) plan.total += config.shard.owns(i) ? 1 : 0;
    items += n;
  }
  return plan;
}

}  // namespace osor::harness
