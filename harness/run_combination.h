// Several runs in one table (`osor report RUN... --out DIR`): a paper's table is rarely one run — each baseline and
// each checkpoint is scored when it is ready, often on another machine. Runs of different methods over the same
// benchmarks combine into one run record whose tables and gallery are those of one run with all the methods; set
// metrics keep each run's stored values.
//
// Refused, naming the two runs and the difference: other benchmark specs (name, version, sha256 of the spec file),
// other mask settings, other metrics or metric conventions (name, convention, version), and one method label in
// two runs (give one of them another with name=LABEL when it is evaluated).
#pragma once

#include <filesystem>
#include <vector>

#include "harness/run_record.h"

namespace osor::harness {

// Each path is a run folder or its results.json. Sample outputs become absolute paths (the runs stay where they
// are); the combined config lists every run's methods, and its provenance every run's (under "combined_from").
RunRecord combine_runs(const std::vector<std::filesystem::path>& runs);

}  // namespace osor::harness
