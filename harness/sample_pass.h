// One method over one benchmark in an `osor eval`: every sample × mask setting of this shard without a finished
// record goes through the pipeline (harness/pipeline.h) —
//
//   decode   the input once for all mask settings of the sample, each setting's mask, the ground truth once, or
//            the saved output of a removal finished before an interruption;
//   method   remove(), one call at a time in sample order (or in parallel for methods that say they are safe);
//   finish   the output written (linked, when it is exactly an 8-bit RGB PNG on disk: identity, precomputed),
//            the per-image metrics on the decoded pixels, the sample's record written last (atomically).
//
// A failing sample is recorded as failed and the pass goes on, unless fail_fast. The records do not depend on
// the number of jobs. Internal to the runner.
#pragma once

#include <atomic>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "adapters/remover.h"
#include "harness/eval_plan.h"
#include "harness/progress.h"
#include "harness/run_timing.h"

namespace osor::harness {

struct MethodPass {
  const EvalPlan& plan;
  const std::filesystem::path& run_dir;
  adapters::Remover& remover;
  std::string label, id, folder;     // the method's label, id and folder name (harness/run_layout.h)
  size_t method_index = 0;           // in plan.methods
  int jobs = 1;
  Progress& progress;
  RunTiming& timing;
  std::atomic<bool>& first_timed_call;  // this method's warm-up (run_assembly.cpp's latency protocol)
};

void run_method_on_bench(const MethodPass& pass, const BenchPlan& bench);

// One line per method call in <run>/events.jsonl, appended with O_APPEND (a single write per line).
void append_event(const std::filesystem::path& run_dir, const nlohmann::json& event);

}  // namespace osor::harness
