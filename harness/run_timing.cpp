#include "harness/run_timing.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace osor::harness {

RunTiming::RunTiming() : start_(std::chrono::steady_clock::now()) {}

void RunTiming::add(const std::string& stage, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto [it, fresh] = seconds_.emplace(stage, 0.0);
  if (fresh) order_.push_back(stage);
  it->second += seconds;
}

double RunTiming::wall_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

nlohmann::json RunTiming::to_json(int jobs, int64_t samples) const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json stages = nlohmann::json::object();
  for (const auto& stage : order_) stages[stage] = seconds_.at(stage);
  return {{"wall_s", wall_seconds()}, {"jobs", jobs}, {"samples", samples}, {"stages_s", stages}};
}

std::string RunTiming::summary(int jobs) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string text;
  char buf[96];
  for (const auto& stage : order_) {
    std::snprintf(buf, sizeof buf, "%s%s %.1f s", text.empty() ? "" : ", ", stage.c_str(), seconds_.at(stage));
    text += buf;
  }
  std::snprintf(buf, sizeof buf, "%s(thread-seconds); wall %.1f s with %d job(s)", text.empty() ? "" : " ",
                wall_seconds(), jobs);
  return text + buf;
}

StageStopwatch::StageStopwatch(RunTiming& timing, std::string stage)
    : timing_(timing), stage_(std::move(stage)), start_(std::chrono::steady_clock::now()) {}

StageStopwatch::~StageStopwatch() { stop(); }

void StageStopwatch::stop() {
  if (stopped_) return;
  stopped_ = true;
  timing_.add(stage_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

}  // namespace osor::harness
