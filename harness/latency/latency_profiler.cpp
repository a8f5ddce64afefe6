#include "harness/latency/latency_profiler.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "model/stage_timer.h"

namespace osor::harness {

double steady_clock_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

LatencyResult profile_latency(adapters::Remover& remover, const std::vector<adapters::RemovalInput>& inputs,
                              const LatencyConfig& config, const c10::Device& device, const MillisecondClock& clock) {
  if (config.batch < 1) throw HarnessError("--batch must be at least 1 (got " + std::to_string(config.batch) + ")");
  if (config.iters < 1) throw HarnessError("--iters must be at least 1 (got " + std::to_string(config.iters) + ")");
  if (config.warmup < 0) throw HarnessError("--warmup must not be negative (got " + std::to_string(config.warmup) + ")");
  if (inputs.empty()) throw HarnessError("latency: no inputs");
  if (remover.processes_folders())
    throw HarnessError("method " + remover.id() + " processes whole folders in one call; its per-image latency is "
                       "its total time divided by the samples (osor eval records that), not a per-call latency");

  auto sync = [&] {
    remover.synchronize();
    model::synchronize_device(device);
  };
  size_t next_input = 0;
  // One iteration: its wall time, and its stages summed over the batch's remove() calls.
  auto iteration = [&](std::map<std::string, double>& stages, std::map<std::string, int64_t>& calls) {
    sync();
    const double start = clock();
    for (int b = 0; b < config.batch; ++b) {
      const adapters::RemovalOutput out = remover.remove(inputs[next_input]);
      next_input = (next_input + 1) % inputs.size();
      for (const auto& [name, ms] : out.stages_ms) stages[name] += ms;
      calls = out.stage_calls;
    }
    sync();
    return clock() - start;
  };

  LatencyResult result;
  result.config = config;
  reset_device_peak(device);
  const bool host_reset = reset_host_peak();
  for (int i = 0; i < config.warmup; ++i) {
    std::map<std::string, double> stages;
    std::map<std::string, int64_t> calls;
    iteration(stages, calls);
  }
  std::map<std::string, std::vector<double>> stage_samples;
  std::vector<double> unaccounted, stage_totals;
  for (int i = 0; i < config.iters; ++i) {
    std::map<std::string, double> stages;
    const double ms = iteration(stages, result.stage_calls);
    result.iteration_ms.push_back(ms);
    double summed = 0;
    for (const auto& [name, stage_ms] : stages) {
      stage_samples[name].push_back(stage_ms);
      summed += stage_ms;
    }
    if (!stages.empty()) {
      stage_totals.push_back(summed);
      unaccounted.push_back(ms - summed);
    }
  }
  result.host_peak = read_host_peak(host_reset);
  result.device_peak = read_device_peak(device);
  result.stats = summarize_latency(result.iteration_ms);
  for (const auto& [name, samples] : stage_samples) {
    // A stage missing from some iterations (a method that skips it on some inputs) counts 0 there.
    std::vector<double> padded = samples;
    padded.resize(result.iteration_ms.size(), 0.0);
    result.stage_median_ms[name] = percentile_linear(padded, 50);
  }
  if (!unaccounted.empty()) {
    result.stages_total_median_ms = percentile_linear(stage_totals, 50);
    result.unaccounted_median_ms = percentile_linear(unaccounted, 50);
  }
  return result;
}

nlohmann::json latency_protocol() {
  return {
      {"load", "model load (networks built or loaded) timed separately as load_ms, never inside a timed region"},
      {"inputs", "prepared before timing: synthetic = seeded uniform random image and a centred rectangle mask of "
                 "half the height and width (25 % of the pixels) at res x res; bench = the first samples of the "
                 "benchmark resized to res x res (image bilinear, mask nearest); cycled over iterations"},
      {"warmup", "the first `warmup` iterations run like timed ones and are discarded"},
      {"timed_region", "per iteration: Remover::synchronize() + device synchronisation, steady clock start, `batch` "
                       "remove() calls back to back, Remover::synchronize() + device synchronisation, steady clock "
                       "stop"},
      {"batch", "the Remover interface removes one sample per call: batch N = N sequential remove() calls per "
                "iteration; *_ms statistics are per iteration (batch), per_image_* = per batch / N"},
      {"stages", "per remove() call as the method reports them (model/stage_timer.h: CUDA events with LibTorch >= "
                 "2.5 on CUDA, else a synchronised steady clock), summed over the batch; value = median over timed "
                 "iterations; stage_calls = calls of the stage per remove() call; stages_total_median_ms = median of the "
                 "summed stages (<= median_ms); unaccounted_median_ms = median of (iteration - summed stages)"},
      {"percentiles", "median, p90, p99: linear interpolation between closest ranks (numpy.percentile default)"},
      {"std", "population standard deviation (ddof=0, numpy.std default)"},
      {"peak_host_rss", "VmHWM of /proc/self/status, reset per configuration through /proc/self/clear_refs where the "
                        "kernel allows (peak_host_rss_scope = config), else the process peak so far (scope = "
                        "process); warm-up included"},
      {"peak_device_mem", "CUDA caching allocator peak allocated bytes (and peak reserved), reset per configuration; "
                          "null on the CPU or without a CUDA build; warm-up included"},
  };
}

}  // namespace osor::harness
