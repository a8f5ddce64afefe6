#include "harness/pipeline.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "model/cpu_threads.h"

namespace osor::harness {
namespace {

// The shared state of one run_pipeline call.
class Pipeline {
 public:
  Pipeline(size_t count, bool ordered_calls, const PipelineStages& stages)
      : count_(count), ordered_(ordered_calls), stages_(stages) {}

  void work() {
    for (;;) {
      const size_t item = next_.fetch_add(1);
      if (item >= count_) return;
      // Once stopped, the remaining items are taken and skipped (every stage returns false), still in turn.
      const bool prepared = run_stage(stages_.prepare, item);
      bool called = false;
      if (ordered_) {
        std::unique_lock<std::mutex> lock(turn_mutex_);
        turn_changed_.wait(lock, [&] { return turn_ == item; });
        lock.unlock();
        called = prepared && run_stage(stages_.call, item);
        lock.lock();
        ++turn_;
        turn_changed_.notify_all();
      } else {
        called = prepared && run_stage(stages_.call, item);
      }
      if (called) run_stage(stages_.finish, item);
    }
  }

  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // False when the stage threw (the pipeline is then stopped) or the pipeline was stopped before it.
  bool run_stage(const std::function<void(size_t)>& stage, size_t item) {
    if (stopped_.load()) return false;
    if (!stage) return true;
    try {
      stage(item);
      return true;
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      stopped_.store(true);
      return false;
    }
  }

  const size_t count_;
  const bool ordered_;
  const PipelineStages& stages_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stopped_{false};
  std::mutex turn_mutex_, error_mutex_;
  std::condition_variable turn_changed_;
  size_t turn_ = 0;
  std::exception_ptr error_;
};

}  // namespace

void run_pipeline(size_t count, int jobs, bool ordered_calls, const PipelineStages& stages) {
  Pipeline pipeline(count, ordered_calls, stages);
  const size_t threads = std::min(count, static_cast<size_t>(std::max(jobs, 1)));
  if (threads <= 1) {
    pipeline.work();
  } else {
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (size_t t = 0; t < threads; ++t) workers.emplace_back([&pipeline] { pipeline.work(); });
    for (auto& worker : workers) worker.join();
  }
  pipeline.rethrow();
}

int resolve_jobs(int requested) { return requested > 0 ? requested : model::usable_cpu_cores(); }

}  // namespace osor::harness
