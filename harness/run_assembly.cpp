#include "harness/run_assembly.h"

#include <algorithm>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "adapters/registry.h"
#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/run_folder.h"
#include "harness/runner.h"
#include "harness/statistics.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

// The same measurement as `osor latency` (harness/latency/latency_profiler.h) with one call per sample: the first
// timed call of each method in a process pays one-time costs (allocator growth, kernel selection, lazy
// initialisation), so it is recorded with latency_warmup and left out of the median rather than adding an untimed
// extra call (which would double the cost of slow methods on small benchmarks).
constexpr const char* kLatencyProtocol =
    "wall clock (steady clock) around one remove() call per sample, device-synchronised before and after, model "
    "load and image decoding excluded; the first call of each method is warm-up and excluded; median over the "
    "benchmark's other samples (methods that process a folder in one call report their total time divided by the "
    "number of samples, with no warm-up); on CUDA with LibTorch's default cuDNN heuristics (no autotuning, "
    "so that outputs repeat run to run; `osor latency` autotunes)";

bool is_sample_record_name(const std::string& name) {
  if (name.size() > 13 && name.compare(name.size() - 13, 13, ".removal.json") == 0) return false;
  return name.rfind("_set_", 0) != 0 && name[0] != '.';
}

std::vector<SampleRecord> read_records(const fs::path& records) {
  std::vector<SampleRecord> samples;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(records, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".json") continue;
    if (!is_sample_record_name(entry.path().filename().string())) continue;
    std::string damaged;
    auto record = read_finished_record(entry.path(), &damaged);
    if (!record) throw HarnessError(damaged + " (resume the run with `osor eval --out DIR --resume` to redo it)");
    samples.push_back(std::move(*record));
  }
  return samples;
}

// Labels in the order the run's methods were given; records of labels not listed (older runs) keep their order.
std::vector<std::string> method_order(const RunRecord& run, const EvalConfig& config) {
  std::vector<std::string> order;
  for (const auto& m : run.methods) order.push_back(m.label);
  if (order.empty())
    for (const auto& text : config.methods) {
      try {
        order.push_back(adapters::method_label(adapters::MethodSpec::parse(text)));
      } catch (const Error&) {
        // a method text this version no longer parses: its records sort after the others
      }
    }
  for (const auto& s : run.samples)
    if (std::find(order.begin(), order.end(), s.method) == order.end()) order.push_back(s.method);
  return order;
}

size_t position(const std::vector<std::string>& list, const std::string& v) {
  return static_cast<size_t>(std::find(list.begin(), list.end(), v) - list.begin());
}

// Benchmark names in run order: the run's benchmark list (names even where --bench gave a spec file), else the
// configuration's (runs made before the list was recorded).
std::vector<std::string> bench_order(const RunRecord& run, const EvalConfig& config) {
  if (run.benches.empty()) return config.benches;
  std::vector<std::string> names;
  for (const auto& b : run.benches) names.push_back(b.name);
  return names;
}

void sort_samples(RunRecord& run, const EvalConfig& config, const std::vector<std::string>& methods) {
  const std::vector<std::string> benches = bench_order(run, config);
  auto key = [&](const SampleRecord& s) {
    return std::make_tuple(position(benches, s.bench), position(methods, s.method),
                           position(config.masks, s.masks), s.id);
  };
  std::sort(run.samples.begin(), run.samples.end(),
            [&](const SampleRecord& a, const SampleRecord& b) { return key(a) < key(b); });
}

Aggregate cell(const SampleRecord& first, const MetricInfo& info) {
  Aggregate a;
  a.bench = first.bench;
  a.method = first.method;
  a.masks = first.masks;
  a.metric = info.name;
  a.convention = info.convention;
  return a;
}

void add_image_aggregates(RunRecord& run, const EvalConfig& config, const std::vector<const SampleRecord*>& members) {
  const SampleRecord& first = *members.front();
  int failed = 0;
  for (const auto* s : members) failed += s->status == "ok" ? 0 : 1;
  for (const auto& info : run.metrics) {
    if (!info.per_image) continue;
    std::vector<double> values;
    for (const auto* s : members)
      if (s->status == "ok" && s->metrics.count(info.name)) values.push_back(s->metrics.at(info.name));
    Aggregate a = cell(first, info);
    a.n_failed = failed;
    if (values.empty()) {  // nothing scored: no number, never a 0 that would rank as a value
      a.mean = a.std = std::numeric_limits<double>::quiet_NaN();
    } else {
      const Summary summary = summarize(values, config.bootstrap_resamples,
                                        seed_from(first.bench + "|" + first.method + "|" + first.masks + "|" + info.name,
                                                  config.seed));
      a.mean = summary.mean;
      a.std = summary.std;
      a.ci95 = summary.ci95;
      a.n = summary.n;
    }
    run.aggregates.push_back(a);
  }
}

void add_latency(RunRecord& run, const std::vector<const SampleRecord*>& members) {
  std::vector<double> latencies, warmup_latencies;
  for (const auto* s : members)
    if (s->status == "ok") (s->latency_warmup ? warmup_latencies : latencies).push_back(s->latency_ms);
  int n_warmup = static_cast<int>(warmup_latencies.size());
  if (latencies.empty()) {  // only the warm-up call succeeded: report it rather than nothing
    latencies = warmup_latencies;
    n_warmup = 0;
  }
  if (latencies.empty()) return;
  std::sort(latencies.begin(), latencies.end());
  const size_t n = latencies.size();
  const double median = n % 2 ? latencies[n / 2] : 0.5 * (latencies[n / 2 - 1] + latencies[n / 2]);
  double sum = 0;
  for (double v : latencies) sum += v;
  const SampleRecord& first = *members.front();
  run.latency.push_back({first.bench, first.method, first.masks, median, sum / static_cast<double>(n),
                         static_cast<int>(n), n_warmup});
}

// Set-level metrics stored beside the group's records: a value, or why the cell failed.
void add_set_aggregates(RunRecord& run, const fs::path& run_dir, const std::vector<const SampleRecord*>& members) {
  const SampleRecord& first = *members.front();
  const fs::path group_dir = run_dir / "records" / first.bench / fs::path(first.output).parent_path().parent_path().filename() /
                             first.masks;
  std::error_code ec;
  for (const auto& info : run.metrics) {
    if (info.per_image) continue;
    const fs::path file = group_dir / ("_set_" + info.name + ".json");
    if (!fs::exists(file, ec)) continue;
    const json j = read_json_file(file);
    Aggregate a = cell(first, info);
    try {
      if (j.value("status", "ok") == "failed") {
        a.mean = a.std = std::numeric_limits<double>::quiet_NaN();
        a.n_failed = j.value("n_failed", static_cast<int>(members.size()));
        a.error = j.value("error", "failed");
      } else {
        a.mean = value_from_json(j.at("value"));
        a.n = j.value("n", 0);
        a.n_failed = j.value("n_failed", 0);
      }
    } catch (const std::exception& e) {
      throw HarnessError(file.string() + ": not a set-metric record: " + e.what());
    }
    run.aggregates.push_back(a);
  }
}

void write_samples_csv(const fs::path& file, const RunRecord& run) {
  std::ostringstream csv;
  csv << "bench,method,masks,id,status,latency_ms";
  for (const auto& info : run.metrics)
    if (info.per_image) csv << "," << info.name;
  csv << ",error\n";
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const auto& s : run.samples) {
    csv << quoted(s.bench) << "," << quoted(s.method) << "," << s.masks << "," << quoted(s.id) << "," << s.status << ","
        << s.latency_ms;
    for (const auto& info : run.metrics) {
      if (!info.per_image) continue;
      csv << ",";
      if (s.metrics.count(info.name)) csv << json_value(s.metrics.at(info.name)).dump();
    }
    csv << "," << (s.error.empty() ? "" : quoted(s.error)) << "\n";
  }
  write_file_atomic(file, csv.str());
}

RunRecord read_run_meta(const fs::path& run_dir, const EvalConfig& config) {
  const json meta = read_json_file(run_dir / "run_meta.json");
  RunRecord run;
  run.run_id = meta.value("run_id", run_dir.filename().string());
  run.created = meta.value("created", "");
  run.config_json = config_to_json(config).dump();
  run.provenance_json = meta.value("provenance", json::object()).dump();
  run.latency_protocol = kLatencyProtocol;
  try {
    for (const auto& m : meta.value("metrics", json::array()))
      run.metrics.push_back({m.at("name").get<std::string>(), m.value("convention", ""), m.value("version", 1),
                             m.value("higher_is_better", true), m.value("per_image", true)});
    for (const auto& s : meta.value("skipped_metrics", json::array()))
      run.skipped_metrics.emplace_back(s.value("metric", ""), s.value("reason", ""));
    for (const auto& m : meta.value("methods", json::array()))
      run.methods.push_back({m.at("label").get<std::string>(), m.at("id").get<std::string>()});
    for (const auto& b : meta.value("benches", json::array()))
      run.benches.push_back({b.at("name").get<std::string>(), b.value("version", 0), b.value("sha256", "")});
  } catch (const json::exception& e) {
    throw HarnessError((run_dir / "run_meta.json").string() + ": " + e.what());
  }
  return run;
}

}  // namespace

RunRecord assemble_run(const fs::path& run_dir) {
  const EvalConfig config = config_from_json(read_json_file(run_dir / "config.json"));
  RunRecord run = read_run_meta(run_dir, config);
  run.samples = read_records(run_dir / "records");
  const std::vector<std::string> methods = method_order(run, config);
  sort_samples(run, config, methods);

  const std::vector<std::string> benches = bench_order(run, config);
  std::map<std::tuple<size_t, size_t, size_t>, std::vector<const SampleRecord*>> groups;
  for (const auto& s : run.samples)
    groups[{position(benches, s.bench), position(methods, s.method), position(config.masks, s.masks)}]
        .push_back(&s);
  for (const auto& [key, members] : groups) {
    add_image_aggregates(run, config, members);
    add_latency(run, members);
    add_set_aggregates(run, run_dir, members);
  }
  write_run_record(run_dir / "results.json", run);
  write_samples_csv(run_dir / "samples.csv", run);
  return run;
}

}  // namespace osor::harness
