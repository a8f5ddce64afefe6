#include "harness/latency/latency_report.h"

#include <cstdio>
#include <sstream>

#include "model/stage_timer.h"

using nlohmann::json;

namespace osor::harness {
namespace {

json bytes_or_null(int64_t bytes) { return bytes < 0 ? json(nullptr) : json(bytes); }

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Milliseconds with 3 significant-ish digits: 0.123, 12.3, 1234.
std::string ms_text(double ms) { return fixed(ms, ms < 1 ? 3 : ms < 100 ? 2 : 1); }

std::string mib_text(int64_t bytes) { return bytes < 0 ? "-" : fixed(static_cast<double>(bytes) / (1 << 20), 1); }

std::string pad(const std::string& s, size_t width) { return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' '); }

}  // namespace

json latency_json(const LatencyRun& run) {
  const std::string clock = model::stage_clock_name(c10::Device(run.device));
  json configs = json::array();
  for (const auto& r : run.results) {
    const double batch = static_cast<double>(r.config.batch);
    json stages = json::object(), calls = json::object();
    for (const auto& [name, ms] : r.stage_median_ms) stages[name] = ms;
    for (const auto& [name, n] : r.stage_calls) calls[name] = n;
    configs.push_back({{"method", run.method},
                       {"res", r.config.res},
                       {"batch", r.config.batch},
                       {"dtype", run.dtype},
                       {"device", run.device},
                       {"iters", r.config.iters},
                       {"warmup", r.config.warmup},
                       {"mean_ms", r.stats.mean},
                       {"median_ms", r.stats.median},
                       {"p90_ms", r.stats.p90},
                       {"p99_ms", r.stats.p99},
                       {"min_ms", r.stats.min},
                       {"max_ms", r.stats.max},
                       {"std_ms", r.stats.std},
                       {"per_image_mean_ms", r.stats.mean / batch},
                       {"per_image_median_ms", r.stats.median / batch},
                       {"stages", stages},
                       {"stage_calls", calls},
                       {"stage_clock", clock},
                       {"stages_total_median_ms", r.stages_total_median_ms},
                       {"unaccounted_median_ms", r.unaccounted_median_ms},
                       {"peak_device_mem_bytes", bytes_or_null(r.device_peak.allocated_bytes)},
                       {"peak_device_reserved_bytes", bytes_or_null(r.device_peak.reserved_bytes)},
                       {"peak_host_rss_bytes", bytes_or_null(r.host_peak.bytes)},
                       {"peak_host_rss_scope", r.host_peak.since_reset ? "config" : "process"},
                       {"samples_ms", r.iteration_ms}});
  }
  return {{"format", "osor-latency/1"},
          {"method", run.method},
          {"weights", run.weights},
          {"inputs", run.inputs},
          {"device", run.system},
          {"load_ms", run.load_ms},
          {"cudnn_benchmark", run.cudnn_benchmark},
          {"protocol", latency_protocol()},
          {"configs", configs}};
}

std::string latency_table(const LatencyRun& run) {
  std::ostringstream o;
  auto system_text = [&](const char* key) {
    return run.system.is_object() && run.system.contains(key) && run.system[key].is_string()
               ? run.system[key].get<std::string>() : std::string("?");
  };
  o << "osor latency: " << run.method << " on " << run.device << " (" << system_text("name");
  if (c10::Device(run.device).is_cpu() && run.system.is_object() && run.system.contains("cpu_threads"))
    o << ", " << run.system["cpu_threads"].dump() << (run.system["cpu_threads"] == 1 ? " thread" : " threads");
  o << "), " << run.dtype << ", LibTorch " << system_text("libtorch") << "\n";
  o << "weights " << run.weights << "; inputs " << run.inputs << "; load " << ms_text(run.load_ms)
    << " ms (not timed below)" << (run.cudnn_benchmark ? "; cuDNN autotuning on" : "") << "\n\n";
  const std::vector<std::pair<std::string, size_t>> columns = {
      {"res", 6}, {"batch", 6}, {"iters", 6}, {"mean", 10}, {"median", 10}, {"p90", 10}, {"p99", 10},
      {"min", 10}, {"std", 9}, {"per image", 10}, {"peak dev MiB", 13}, {"peak RSS MiB", 12}};
  for (const auto& [title, width] : columns) o << pad(title, width);
  o << "\n";
  for (const auto& r : run.results) {
    const std::vector<std::string> cells = {
        std::to_string(r.config.res), std::to_string(r.config.batch), std::to_string(r.config.iters),
        ms_text(r.stats.mean), ms_text(r.stats.median), ms_text(r.stats.p90), ms_text(r.stats.p99),
        ms_text(r.stats.min), ms_text(r.stats.std), ms_text(r.stats.median / r.config.batch),
        mib_text(r.device_peak.allocated_bytes),
        mib_text(r.host_peak.bytes) + (r.host_peak.since_reset ? "" : "*")};
    for (size_t i = 0; i < cells.size(); ++i) o << pad(cells[i], columns[i].second);
    o << "\n";
    if (!r.stage_median_ms.empty()) {
      o << "    stages, median ms per iteration:";
      for (const auto& [stage, ms] : r.stage_median_ms) {
        o << " " << stage << " " << ms_text(ms);
        const auto calls = r.stage_calls.find(stage);
        if (calls != r.stage_calls.end() && calls->second != 1) o << " (x" << calls->second << ")";
        o << ";";
      }
      o << " all stages " << ms_text(r.stages_total_median_ms) << ", unaccounted " << ms_text(r.unaccounted_median_ms)
        << "\n";
    }
  }
  o << "\nTimes in ms per iteration (one iteration = batch sequential remove() calls; per image = median / batch);"
       " warm-up excluded; device-synchronised; median/p90/p99 numpy-linear percentiles; std population.\n";
  bool process_scope = false;
  for (const auto& r : run.results) process_scope = process_scope || !r.host_peak.since_reset;
  if (process_scope) o << "* peak RSS of the whole process so far (this kernel refused the per-configuration reset).\n";
  return o.str();
}

}  // namespace osor::harness
