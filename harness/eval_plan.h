// The checked plan of an `osor eval` (harness/runner.h): its metrics, methods and benchmarks, and the numbering
// of its work items. Everything the command line says is checked here, before a file is written. Internal to the
// runner (runner.cpp, sample_pass.cpp).
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/remover.h"
#include "harness/benchmark.h"
#include "harness/run_record.h"
#include "harness/runner.h"
#include "metrics/feature_extractor.h"
#include "metrics/registry.h"

namespace osor::harness {

// The metrics of a run: which are per-image, which set-level, which skipped and why.
struct MetricPlan {
  std::vector<std::unique_ptr<metrics::ImageMetric>> image;
  std::vector<std::unique_ptr<metrics::SetMetric>> set;
  std::vector<MetricInfo> infos;
  std::vector<std::pair<std::string, std::string>> skipped;
};

struct MethodPlan {
  adapters::MethodSpec spec;
  std::string label;
};

struct BenchPlan {
  BenchmarkSpec spec;
  std::vector<BenchmarkSample> samples;
  std::vector<std::string> masks;  // the run's mask settings this benchmark has
  int64_t first_item = 0;          // the number of its first work item (harness/shard.h)
};

struct EvalPlan {
  EvalConfig config;
  metrics::NetworkOptions network;
  MetricPlan metrics;
  std::vector<MethodPlan> methods;
  std::vector<BenchPlan> benches;
  int64_t total = 0;  // work items of this shard: sample × method × mask setting
};

// Checks the configuration (device, methods, benchmarks, metrics) and lists the work; HarnessError otherwise.
EvalPlan plan_eval(const EvalConfig& config);
std::vector<MethodPlan> plan_methods(const std::vector<std::string>& texts);
std::vector<BenchPlan> plan_benches(const EvalConfig& config);

// The number of a work item (harness/shard.h): sample, method and mask setting of a benchmark.
int64_t work_item(const EvalPlan& plan, const BenchPlan& bench, size_t sample, size_t method, size_t masks);

// LibTorch's errors carry a C++ backtrace in what(); a record or a user gets the one-line message.
std::string error_text(const std::exception& e);

}  // namespace osor::harness
