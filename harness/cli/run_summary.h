// What `osor eval` prints when a run ends: the comparison table, failures, skipped metrics and where the
// run folder and its gallery are.
#pragma once

#include <filesystem>

#include "harness/run_record.h"

namespace osor::cli {

void print_run_summary(const harness::RunRecord& run, const std::filesystem::path& run_dir, bool json);

}  // namespace osor::cli
