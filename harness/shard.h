// Sharded evaluation (`osor eval --shard K/N`): which work items a shard owns, and what a launcher (torchrun,
// SLURM) says about this process — its shard and its GPU. No coordinator: each shard is its own run folder, and
// `osor merge` (harness/shard_merge.h) joins them.
//
// A work item is one (benchmark, sample, method, mask setting). Items are numbered in the order an unsharded run
// visits them — benchmarks as given, samples in benchmark order, methods as given, the benchmark's mask settings as
// given — and item i belongs to shard i mod N: every shard gets a share of every benchmark and method.
#pragma once

#include <cstdint>
#include <string>

namespace osor::harness {

struct Shard {
  int index = 0, count = 1;  // K and N; count 1: the whole run

  bool whole() const { return count == 1; }
  bool owns(int64_t item) const { return item % count == index; }
  std::string text() const;  // "K/N"
};

// "K/N" (0 ≤ K < N), or "auto": RANK and WORLD_SIZE (torchrun), else SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN
// and SLURM_ARRAY_TASK_COUNT. HarnessError names the text or the variables when they do not make a shard.
Shard parse_shard(const std::string& text);

// "cuda:auto": the GPU of this process's local rank (LOCAL_RANK, else SLURM_LOCALID, else 0); any other device text
// is returned as it is.
std::string resolve_device(const std::string& text);

}  // namespace osor::harness
