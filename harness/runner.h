// `osor eval`: methods × benchmarks × mask settings × metrics → a run folder (ARCHITECTURE.md "Runs").
//
// runs/<id>/
//   config.json                     the evaluation's configuration (a resumed run reuses it)
//   outputs/<bench>/<method>/<masks>/<sample>.png   method outputs (reused on resume)
//   records/<bench>/<method>/<masks>/<sample>.json  one finished sample: status, latency, metric values
//   records/.../<sample>.removal.json               the removal finished (its output is on disk), not yet scored
//   events.jsonl                    one line per method call actually made (to audit resumes)
//   results.json, samples.csv       the assembled run record (harness/run_record.h) and a flat table
// Every file is written atomically (temp + rename), so a run killed at any moment resumes with --resume and
// recomputes nothing that finished: a sample is skipped when its record exists, and scored from its saved
// output when only the removal finished.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness/run_record.h"
#include "metrics/pixel_options.h"

namespace osor::harness {

struct EvalConfig {
  std::vector<std::string> benches = {"sample"};
  std::vector<std::string> methods = {"identity", "opencv-telea", "opencv-ns"};
  std::vector<std::string> metrics;  // empty: every metric whose weights are present
  std::vector<std::string> masks = {"object", "effect"};
  metrics::PixelOptions pixels;      // channels and region of the pixel metrics
  std::filesystem::path data_dir, bench_dir, weights_dir, cache_dir, out_dir;
  std::string device = "cpu", dtype = "fp32";
  uint64_t seed = 0;
  int bootstrap_resamples = 1000;
  int limit = 0;                     // at most this many samples per benchmark (0: all)
  bool fail_fast = false;
  bool write_outputs = true;
};

nlohmann::json config_to_json(const EvalConfig& config);
EvalConfig config_from_json(const nlohmann::json& j);

struct EvalOptions {
  bool resume = false;
  bool progress = true;
};

// Runs (or resumes) the evaluation and writes the run folder; returns the run record.
RunRecord run_eval(const EvalConfig& config, const EvalOptions& options);

// Rebuilds results.json and samples.csv from the records of a run folder without computing anything.
RunRecord assemble_run(const std::filesystem::path& run_dir);

}  // namespace osor::harness
