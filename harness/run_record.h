// The run record: everything `osor eval` produced, as stored in runs/<id>/results.json. Reports and
// `osor compare` read only this. Format "osor-run/1":
//
// {
//   "format": "osor-run/1", "run_id": "...", "created": "2026-11-28T22:00:00Z",
//   "config": {"benches": [...], "methods": ["identity", "opencv-telea:radius=3"], "metrics": ["psnr", "ssim"],
//              "masks": ["object", "effect"], "channels": "rgb", "region": "full", "device": "cpu",
//              "bootstrap_resamples": 1000, "bootstrap_seed": 0},
//   "provenance": {"git_revision", "osor_version", "libtorch", "opencv", "compiler", "host", "device", "weights": {}},
//   "metrics": [{"name", "convention", "version", "higher_is_better", "per_image"}],
//   "latency_protocol": "wall clock around one remove() call per sample, device-synchronised, model load excluded;
//                        the first call of each method is warm-up, excluded from the median; median over samples",
//   "methods": [{"label", "id"}],     the label is what every table, gallery and `osor compare` matches on; the id
//                                     (family and options) is provenance
//   "benches": [{"name", "version", "sha256"}],   each benchmark spec's version and the sha256 of its file
//   "samples": [{"bench", "method" (label), "method_id", "masks", "id", "status": "ok"|"failed", "error", "output" (run-relative path),
//                "latency_ms", "latency_warmup": true (only on a method's first timed call), "metrics": {name: value},
//                "input", "gt", "mask", "mask_polarity"}],
//   "aggregates": [{"bench", "method", "masks", "metric", "convention", "mean", "std", "ci95": [lo, hi] | null,
//                   "n", "n_failed", "error" (a set metric that failed: why; its mean is "nan" and n 0)}],
//   "latency": [{"bench", "method", "masks", "median_ms", "mean_ms", "n", "n_warmup"}],  (n: samples in the median;
//               n_warmup: warm-up samples left out of it)
//   "skipped_metrics": [{"metric", "reason"}]
// }
// Runs written before labels existed have no "methods"/"method_id": their method ids serve as labels.
// Non-finite numbers are written as the strings "inf", "-inf", "nan". Set-level metrics (fid, cmmd) have one
// aggregate per (bench, method, masks) with "ci95": null and no per-sample values.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace osor::harness {

inline constexpr const char* kRunFormat = "osor-run/1";

struct MetricInfo {
  std::string name, convention;
  int version = 1;
  bool higher_is_better = true;
  bool per_image = true;
};

struct SampleRecord {
  std::string bench, method, masks, id;  // method: the label
  std::string method_id;                 // the method's canonical id (provenance)
  std::string status = "ok";  // "ok" | "failed"
  std::string error;          // why it failed
  std::string output;         // method output, relative to the run folder
  std::string input, gt, mask;  // the benchmark's files (absolute), for galleries
  std::string mask_polarity = "white";
  double latency_ms = 0;
  bool latency_warmup = false;  // the method's first remove() call in its process: excluded from latency medians
  std::map<std::string, double> metrics;
  // Named parts of a metric's value (cfd: per component "c<k>.value", "c<k>.d0", "c<k>.t<j>"); only metrics with parts.
  std::map<std::string, std::map<std::string, double>> metric_terms;
};

struct Aggregate {
  std::string bench, method, masks, metric, convention;
  double mean = 0, std = 0;
  std::optional<std::pair<double, double>> ci95;
  int n = 0, n_failed = 0;
  std::string error;  // a set metric that could not be computed for this cell (n = 0, mean NaN)
};

struct MethodInfo {
  std::string label, id;
};

struct BenchInfo {
  std::string name;
  int version = 0;     // 0: not recorded (a run made before spec versions)
  std::string sha256;  // of the spec file
};

struct LatencySummary {
  std::string bench, method, masks;
  double median_ms = 0, mean_ms = 0;
  int n = 0;         // samples in the median and mean
  int n_warmup = 0;  // warm-up samples excluded from them
};

struct RunRecord {
  std::string run_id, created;
  std::string config_json = "{}", provenance_json = "{}";
  std::vector<MetricInfo> metrics;
  std::vector<MethodInfo> methods;
  std::vector<BenchInfo> benches;
  std::string latency_protocol;
  std::vector<SampleRecord> samples;
  std::vector<Aggregate> aggregates;
  std::vector<LatencySummary> latency;
  std::vector<std::pair<std::string, std::string>> skipped_metrics;  // metric, reason

  const MetricInfo* metric(const std::string& name) const;
};

nlohmann::json to_json(const SampleRecord& sample);
SampleRecord sample_from_json(const nlohmann::json& j);
nlohmann::json to_json(const RunRecord& run);
RunRecord run_from_json(const nlohmann::json& j);

// Reads results.json (a run folder or the file itself); HarnessError names the file and what is wrong.
RunRecord read_run_record(const std::filesystem::path& path);
void write_run_record(const std::filesystem::path& file, const RunRecord& run);  // atomic

// A JSON number, or "inf"/"-inf"/"nan"; and back.
nlohmann::json json_value(double value);
double value_from_json(const nlohmann::json& j);

}  // namespace osor::harness
