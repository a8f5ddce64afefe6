// `osor merge`: the shards of one evaluation (`osor eval --shard K/N`, harness/shard.h) joined into one run folder
// whose records, aggregates and reports are those of the unsharded run.
//
// Checks first, writing nothing until they pass: every folder is a finished shard of the same configuration (all
// of config.json but the shard, the cache folder and the GPU index; and the same metrics, methods and benchmark
// specs in run_meta.json); the shards are 0..N-1 of one N, each once; each shard finished every work item it owns
// and holds none it does not. Errors name the folders and what is missing, duplicated or different.
//
// Then: records and outputs are linked (or copied) into the new run, events.jsonl concatenated, and the set
// metrics (FID, CMMD) computed from the shards' feature files — the rows of the scored outputs in benchmark order
// against the ground truths' rows, as the unsharded run orders them; no network runs at merge time.
#pragma once

#include <filesystem>
#include <vector>

#include "harness/run_record.h"

namespace osor::harness {

struct MergeResult {
  RunRecord run;
  std::filesystem::path run_dir;
};

// `out_dir` must not exist or be empty. HarnessError as described above.
MergeResult merge_shards(const std::vector<std::filesystem::path>& shard_dirs, const std::filesystem::path& out_dir);

}  // namespace osor::harness
