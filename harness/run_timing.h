// Where the time of an `osor eval` went: seconds per stage (decode, method, each metric, write, set metrics),
// summed over the pipeline's threads, and the wall time. Printed at the end of a run and stored in run_meta.json
// ("timing"). Safe to add to from several threads.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace osor::harness {

class RunTiming {
 public:
  RunTiming();
  void add(const std::string& stage, double seconds);
  // {"wall_s", "jobs", "stages_s": {stage: seconds}, "samples"}.
  nlohmann::json to_json(int jobs, int64_t samples) const;
  // One line: "decode 12.1 s, method 0.3 s, ssim 10.2 s, ... (thread-seconds); wall 14.0 s with 2 jobs".
  std::string summary(int jobs) const;

 private:
  double wall_seconds() const;
  mutable std::mutex mutex_;
  std::map<std::string, double> seconds_;
  std::vector<std::string> order_;  // stages in the order they first appeared
  std::chrono::steady_clock::time_point start_;
};

// Adds the time from its construction to its destruction (or to stop()) to `stage`.
class StageStopwatch {
 public:
  StageStopwatch(RunTiming& timing, std::string stage);
  ~StageStopwatch();
  void stop();

 private:
  RunTiming& timing_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_;
  bool stopped_ = false;
};

}  // namespace osor::harness
