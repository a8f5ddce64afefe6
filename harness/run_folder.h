// A run folder's life cycle (ARCHITECTURE.md "Runs"): one writer at a time, a name that no other run takes,
// and records that count as finished only when they are whole.
//
// - RunLock holds an exclusive flock(2) on <run>/.lock for as long as it lives (the kernel drops it when the
//   process dies, so a killed run never leaves a stale lock). A second `osor eval` on the same folder is
//   refused at once, naming the folder and the holder's pid.
// - claim_unique_run_dir makes "<base>", else "<base>-2", "<base>-3", ... with mkdir(2), which fails when the
//   folder exists: two runs started in the same second get different folders, without a race.
// - read_finished_record: a record that is missing, truncated or not a record (a crash of an older version,
//   a disk that filled up, a hand edit) is not finished: the caller redoes that sample.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "harness/run_record.h"

namespace osor::harness {

class RunLock {
 public:
  // Creates the lock file if needed; throws HarnessError when another process holds the lock.
  explicit RunLock(const std::filesystem::path& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Creates and returns a folder that did not exist: base, else base-2, base-3, ... (parents are created).
std::filesystem::path claim_unique_run_dir(const std::filesystem::path& base);

// True when `dir` holds nothing but what a run that never started leaves (its lock file).
bool is_empty_run_dir(const std::filesystem::path& dir);

// The file parsed as JSON; HarnessError naming the file when it is missing, unreadable or not JSON.
nlohmann::json read_json_file(const std::filesystem::path& file);

// The record at `file` when it is whole; nullopt when it is missing. A damaged one is reported through
// `damaged` (the file and the problem) and also yields nullopt.
std::optional<SampleRecord> read_finished_record(const std::filesystem::path& file, std::string* damaged = nullptr);

}  // namespace osor::harness
