#include "harness/pipeline.h"

#include <ATen/Parallel.h>

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
        called = prepared && call(item);
        lock.lock();
        ++turn_;
        turn_changed_.notify_all();
      } else {
        called = prepared && call(item);
      }
      if (called) run_stage(stages_.finish, item);
    }
  }

  // Prepare and finish run with one intra-op thread, the call with `call_threads`.
  void set_worker_threads(int call_threads) { call_threads_ = call_threads; }

  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  bool call(size_t item) {
    if (call_threads_ <= 0) return run_stage(stages_.call, item);
    const model::IntraOpThreads threads(call_threads_);
    return run_stage(stages_.call, item);
  }

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
  int call_threads_ = 0;  // the call stage's intra-op threads (0: the thread's own)
  std::exception_ptr error_;
};

}  // namespace

void run_pipeline(size_t count, int jobs, bool ordered_calls, const PipelineStages& stages) {
  Pipeline pipeline(count, ordered_calls, stages);
  const size_t threads = std::min(count, static_cast<size_t>(std::max(jobs, 1)));
  pipeline.set_worker_threads(model::configured_cpu_threads());
  if (threads <= 1) {
    const model::IntraOpThreads one(1);
    pipeline.work();
  } else {
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (size_t t = 0; t < threads; ++t)
      workers.emplace_back([&pipeline] {
        const model::IntraOpThreads one(1);
        pipeline.work();
      });
    for (auto& worker : workers) worker.join();
    // at::set_num_threads also sets process-wide values (the count new threads start with, other pools): the
    // calling thread's count again, everywhere.
    at::set_num_threads(at::get_num_threads());
  }
  pipeline.rethrow();
}

int resolve_jobs(int requested) { return requested > 0 ? requested : model::usable_cpu_cores(); }

}  // namespace osor::harness
