// The measurement protocol of `osor latency` (README "Latency"; latency_protocol() writes it into the JSON):
//  1. Load: the Remover is made (networks built or loaded) before, and outside, every timed region; the caller
//     times that as load_ms.
//  2. Inputs: prepared before timing (synthetic_latency_inputs.h); iteration i uses inputs i·batch … i·batch+batch−1,
//     cycling through the list.
//  3. Warm-up: `warmup` iterations run exactly like timed ones and are discarded (first-call costs: allocator
//     growth, cuDNN/cuBLAS algorithm selection, lazy initialisation).
//  4. One timed iteration: Remover::synchronize() and a synchronisation of the device, steady clock start,
//     `batch` remove() calls back to back, Remover::synchronize() and device synchronisation, steady clock stop.
//     The Remover interface removes one sample per call, so batch N is N sequential calls: the statistics are per
//     iteration (per batch) and per_image = per batch / N. Methods that process whole folders in prepare() are
//     refused (their per-image time is a total divided by the count: `osor eval` records that).
//  5. Stages: every remove() returns its stage times (RemovalOutput::stages_ms, model/stage_timer.h: device events
//     on CUDA with LibTorch ≥ 2.5, otherwise a synchronised steady clock). An iteration's stage time is the sum over
//     its remove() calls; a configuration reports, per stage, the median over timed iterations, and stage_calls,
//     how often the stage ran in one remove() call (a 20-step sampler's backbone: 20, or 40 with unbatched CFG).
//     Stages lie inside the iteration, so per iteration their sum is at most its time, and so is the median of
//     the sums (stages_total) at most the median iteration; the medians of the single stages need not add up to
//     it. "unaccounted" is the median over iterations of (iteration time − its summed stages): work outside any
//     stage and the synchronisation around the call.
//  6. Statistics over the timed iterations: latency_stats.h (median, p90, p99: numpy's linear percentiles; std:
//     population).
//  7. Memory: the host peak RSS and the device's peak allocation are reset before the configuration's warm-up and
//     read after its last timed iteration (peak_memory.h), so they include warm-up.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "adapters/remover.h"
#include "harness/latency/latency_stats.h"
#include "harness/latency/peak_memory.h"

namespace osor::harness {

struct LatencyConfig {
  int64_t res = 1024;
  int batch = 1;
  int warmup = 5;
  int iters = 20;
};

struct LatencyResult {
  LatencyConfig config;
  std::vector<double> iteration_ms;  // the timed iterations, in order (warm-up excluded)
  LatencyStats stats;                // over iteration_ms: per batch
  std::map<std::string, double> stage_median_ms;  // per stage: median over timed iterations of its summed time
  std::map<std::string, int64_t> stage_calls;     // per stage: calls in one remove() call (the last one timed)
  double stages_total_median_ms = 0;  // median over iterations of the summed stages (≤ the median iteration)
  double unaccounted_median_ms = 0;   // median over iterations of (iteration − summed stages); 0 when no stages
  HostPeak host_peak;
  DevicePeak device_peak;
};

// A monotonic clock in milliseconds; tests inject a fake one.
using MillisecondClock = std::function<double()>;
double steady_clock_ms();

// Runs warm-up and timed iterations of `remover` on `device` (HarnessError: bad config, no inputs, a folder
// method; AdapterError from the method propagates).
LatencyResult profile_latency(adapters::Remover& remover, const std::vector<adapters::RemovalInput>& inputs,
                              const LatencyConfig& config, const c10::Device& device,
                              const MillisecondClock& clock = steady_clock_ms);

// The protocol above as JSON (the "protocol" object of `osor latency --json`).
nlohmann::json latency_protocol();

}  // namespace osor::harness
