// The output of `osor latency`: one JSON object (format "osor-latency/1") and a readable table.
//
// {"format": "osor-latency/1", "method": "osor-sdxl", "weights": "files: DIR" | "random: CONFIG_DIR",
//  "inputs": "synthetic" | "bench:NAME/masks", "device": {system_info.h}, "load_ms": 1234.5, "cudnn_benchmark": true,
//  "protocol": {latency_profiler.h latency_protocol()},
//  "configs": [{"method", "res", "batch", "dtype", "device", "iters", "warmup",
//               "mean_ms", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "std_ms",   (per iteration = batch)
//               "per_image_mean_ms", "per_image_median_ms",
//               "stages": {name: median ms per iteration}, "stage_calls": {name: calls per remove()},
//               "stage_clock": "device-events" | "steady-clock", "unaccounted_median_ms",
//               "peak_device_mem_bytes", "peak_device_reserved_bytes" (null when not measured),
//               "peak_host_rss_bytes", "peak_host_rss_scope": "config" | "process", "samples_ms": [...]}]}
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "harness/latency/latency_profiler.h"

namespace osor::harness {

struct LatencyRun {
  std::string method, dtype, device;  // the method's id, --dtype, --device
  std::string weights;                // "files: DIR" or "random: CONFIG_DIR"
  std::string inputs;                 // "synthetic" or "bench:NAME/MASKS"
  double load_ms = 0;
  bool cudnn_benchmark = false;       // cuDNN autotuning (--cudnn-benchmark): algorithms picked by timing
  nlohmann::json system;              // describe_system()
  std::vector<LatencyResult> results;
};

nlohmann::json latency_json(const LatencyRun& run);
std::string latency_table(const LatencyRun& run);

}  // namespace osor::harness
