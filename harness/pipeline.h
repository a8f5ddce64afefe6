// The runner's pipeline: items 0..count-1 pass through three stages on `jobs` threads,
//
//   prepare (any thread, in parallel: decoding)  →  call (one at a time, in item order: the method)
//                                                 →  finish (any thread, in parallel: scoring, writing).
//
// Each thread takes the next item and carries it through all three stages, so at most `jobs` items are in flight
// (memory stays flat whatever the number of items) and while one item is in its call the others are being
// decoded or scored. With `ordered_calls` false (a method that is safe to call from several threads at once) the
// call stage runs in parallel too. jobs = 1 runs everything on the calling thread, in order.
//
// Errors: a stage that throws stops the pipeline — no new item is started, the items in flight finish their
// current stage (an item whose prepare threw skips its call and finish, in order) — and the first exception is
// rethrown on the calling thread once every thread has stopped. Stages that want to record an item's failure and
// go on catch it themselves.
#pragma once

#include <cstddef>
#include <functional>

namespace osor::harness {

struct PipelineStages {
  std::function<void(size_t)> prepare, call, finish;  // any may be empty
};

// Intra-op threads: prepare and finish run with one LibTorch thread each (the jobs are the parallelism: several
// images at once, no OpenMP teams competing for the cores; measured on 2 busy cores, OpenMP teams in these stages
// cost up to 10× their work in spinning), the call with the configured count (model::configured_cpu_threads: the
// method, the feature networks).

void run_pipeline(size_t count, int jobs, bool ordered_calls, const PipelineStages& stages);

// The worker count for `--jobs N`: N when positive, else the cores this process may use (model::usable_cpu_cores).
int resolve_jobs(int requested);

}  // namespace osor::harness
