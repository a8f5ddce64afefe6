// Progress of long loops on stderr: a redrawn bar (items, rate, ETA) when stderr is a terminal, plain
// periodic lines (every 10 % or 10 s) otherwise, so logs of batch jobs stay readable. Safe to advance from
// several threads (the runner's pipeline).
#pragma once

#include <chrono>
#include <mutex>
#include <string>

namespace osor::harness {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  void advance(int64_t n = 1);
  void finish();

 private:
  void draw(bool final);
  std::mutex mutex_;
  std::string label_;
  int64_t total_, done_ = 0, last_reported_ = 0;
  bool terminal_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace osor::harness
