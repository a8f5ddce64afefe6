// A run folder's records → its run record (results.json) and samples.csv, computing nothing but statistics:
// per-image aggregates with bootstrap intervals, latency medians, and the set metrics' stored values (or why
// they failed). `osor eval` calls it at the end of a run; `osor report` of a run folder may call it again.
#pragma once

#include <filesystem>

#include "harness/run_record.h"

namespace osor::harness {

// Rebuilds results.json and samples.csv from the records of a run folder; HarnessError names a damaged file.
RunRecord assemble_run(const std::filesystem::path& run_dir);

}  // namespace osor::harness
