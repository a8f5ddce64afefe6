// `osor eval`: methods × benchmarks × mask settings × metrics → a run folder (ARCHITECTURE.md "Runs").
//
// runs/<id>/
//   config.json                     the evaluation's configuration (a resumed run reuses it)
//   .lock                           flock'ed by the one process writing the run (harness/run_folder.h)
//   outputs/<bench>/<method>/<masks>/<sample>.png   method outputs (reused on resume); <method> is a folder name
//                                   made from the method id and its hash, never from the label
//   records/<bench>/<method>/<masks>/<sample>.json  one finished sample: status, latency, metric values
//   records/.../<sample>.removal.json               the removal finished (its output is on disk), not yet scored
//   records/.../_set_<metric>.json  a set metric's value for the cell, or why it failed
//   features/<bench>/...            a shard's set-metric features (--shard K/N; harness/run_layout.h)
//   events.jsonl                    one line per method call actually made (to audit resumes)
//   run_meta.json                   metrics, methods (label and id), benchmark spec versions, provenance
//   results.json, samples.csv       the assembled run record (harness/run_record.h) and a flat table
// Every file is written atomically (temp + rename), so a run killed at any moment resumes with --resume and
// recomputes nothing that finished: a sample is skipped when its record exists and is whole, and scored from
// its saved output when only the removal finished. Everything the command line says is checked before the run
// folder is created. A failing sample or set metric is recorded as failed and the run goes on (unless
// fail_fast); count_failures tells the caller how many.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "harness/run_assembly.h"
#include "harness/run_record.h"
#include "harness/shard.h"
#include "metrics/pixel_options.h"

namespace osor::harness {

struct EvalConfig {
  std::vector<std::string> benches = {"sample"};
  std::vector<std::string> methods = {"identity", "opencv-telea", "opencv-ns"};
  std::vector<std::string> metrics;  // empty: every metric whose weights are present
  std::vector<std::string> masks = {"object", "effect"};
  metrics::PixelOptions pixels;      // channels and region of the pixel metrics
  std::filesystem::path data_dir, bench_dir, weights_dir, cache_dir, out_dir;  // bench_dir: the built-in specs
  std::vector<std::filesystem::path> extra_bench_dirs;  // --bench-dir: spec folders added to bench_dir
  std::string device = "cpu", dtype = "fp32";
  std::string cfd_mode = "official";  // cfd: official | corrected (metrics/cfd.h)
  uint64_t seed = 0;
  int bootstrap_resamples = 1000;
  int limit = 0;                     // at most this many samples per benchmark (0: all)
  bool fail_fast = false;
  bool write_outputs = true;
  Shard shard;                       // this process's share of the work items (harness/shard.h)
};

nlohmann::json config_to_json(const EvalConfig& config);
EvalConfig config_from_json(const nlohmann::json& j);

struct EvalOptions {
  bool resume = false;
  bool progress = true;
  // Threads of the sample pipeline (harness/pipeline.h): decoding, scoring and writing overlap the method calls.
  // 0: the cores this process may use. Results do not depend on it.
  int jobs = 0;
  // out_dir is a default name: when taken, use out_dir-2, out_dir-3, ... (two runs in one second never share).
  bool unique_out_dir = false;
  // The config_to_json keys the user gave explicitly (e.g. "metrics", "masks"): a resumed run refuses values of
  // these that differ from the stored configuration, naming each difference.
  std::set<std::string> given;
};

struct EvalResult {
  RunRecord run;
  std::filesystem::path run_dir;
};

// Runs (or resumes) the evaluation and writes the run folder; HarnessError for bad arguments (before any file is
// written), a folder in use or a resume whose arguments differ.
EvalResult run_eval(const EvalConfig& config, const EvalOptions& options);

// One work item of a configuration (harness/shard.h): a sample of a benchmark, with one method (its index in
// config.methods) and one mask setting.
struct WorkItem {
  int64_t number = 0;
  std::string bench, sample_id, masks;
  size_t method = 0;
  bool has_gt = false;
};

// Every work item of `config`, in the order a run visits them (the benchmarks' samples are listed from disk);
// HarnessError for what run_eval would refuse in the benchmarks, methods or mask settings.
std::vector<WorkItem> work_items(const EvalConfig& config);

// Failed work in a run: samples whose removal or scoring failed, and set-metric cells that could not be computed.
struct RunFailures {
  int samples = 0, set_cells = 0;
  int total() const { return samples + set_cells; }
};
RunFailures count_failures(const RunRecord& run);

}  // namespace osor::harness
