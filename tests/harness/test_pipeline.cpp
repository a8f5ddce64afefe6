// The runner's pipeline (harness/pipeline.h): calls in item order, every stage once per item, at most `jobs` items
// in flight, parallel calls for thread-safe methods, and the first error stopping the run without a deadlock.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness/pipeline.h"

using osor::harness::PipelineStages;
using osor::harness::run_pipeline;

namespace {

// Counts how many items are between the start of their prepare and the end of their finish, and the most at once.
struct InFlight {
  std::atomic<int> now{0}, most{0};
  void enter() {
    const int n = ++now;
    int seen = most.load();
    while (n > seen && !most.compare_exchange_weak(seen, n)) {
    }
  }
  void leave() { --now; }
};

void jitter(size_t item) { std::this_thread::sleep_for(std::chrono::microseconds((item * 7919) % 300)); }

}  // namespace

TEST_CASE("pipeline: ordered calls run one at a time in item order, each stage once per item, at most jobs in flight") {
  for (const int jobs : {1, 2, 8}) {
    CAPTURE(jobs);
    const size_t count = 60;
    InFlight in_flight;
    std::atomic<int> in_call{0}, most_in_call{0};
    std::vector<size_t> call_order;
    std::vector<std::atomic<int>> prepared(count), finished(count);
    PipelineStages stages;
    stages.prepare = [&](size_t i) {
      in_flight.enter();
      jitter(i);
      ++prepared[i];
    };
    stages.call = [&](size_t i) {
      const int n = ++in_call;
      most_in_call = std::max(most_in_call.load(), n);
      call_order.push_back(i);  // unsynchronised on purpose: ordered calls never overlap
      --in_call;
    };
    stages.finish = [&](size_t i) {
      jitter(count - i);
      ++finished[i];
      in_flight.leave();
    };
    run_pipeline(count, jobs, /*ordered_calls=*/true, stages);
    CHECK(most_in_call.load() == 1);
    REQUIRE(call_order.size() == count);
    for (size_t i = 0; i < count; ++i) {
      CHECK(call_order[i] == i);
      CHECK(prepared[i].load() == 1);
      CHECK(finished[i].load() == 1);
    }
    CHECK(in_flight.most.load() <= jobs);
    if (jobs > 1) CHECK(in_flight.most.load() > 1);  // decoding and scoring did overlap
  }
}

TEST_CASE("pipeline: a thread-safe method is called from several threads at once") {
  std::mutex mutex;
  std::condition_variable changed;
  int inside = 0, most = 0;
  PipelineStages stages;
  stages.call = [&](size_t) {
    std::unique_lock<std::mutex> lock(mutex);
    most = std::max(most, ++inside);
    changed.notify_all();
    // Two calls meet here; ordered calls could not (the wait would time out).
    changed.wait_for(lock, std::chrono::seconds(5), [&] { return inside >= 2 || most >= 2; });
    --inside;
  };
  run_pipeline(8, 4, /*ordered_calls=*/false, stages);
  CHECK(most >= 2);
}

TEST_CASE("pipeline: the first error stops taking items, finishes nothing after it and is rethrown") {
  for (const int jobs : {1, 3}) {
    CAPTURE(jobs);
    const size_t count = 200, failing = 5;
    std::atomic<size_t> prepared{0}, finished{0};
    std::vector<size_t> called;
    PipelineStages stages;
    stages.prepare = [&](size_t i) {
      ++prepared;
      if (i == failing) throw std::runtime_error("item 5 is broken");
    };
    stages.call = [&](size_t i) { called.push_back(i); };
    stages.finish = [&](size_t) { ++finished; };
    CHECK_THROWS_WITH_AS(run_pipeline(count, jobs, true, stages), "item 5 is broken", std::runtime_error);
    CHECK(prepared.load() < count);
    CHECK(std::find(called.begin(), called.end(), failing) == called.end());
    CHECK(std::is_sorted(called.begin(), called.end()));
    CHECK(finished.load() <= called.size());
    // Only items before the failing one can have been called (a later call waits for its turn, which comes after
    // the failure stopped the pipeline); the run ends without a deadlock.
    for (size_t i : called) CHECK(i < failing);
  }
}

TEST_CASE("pipeline: jobs 0 means every usable core, and no items is no work") {
  CHECK(osor::harness::resolve_jobs(0) >= 1);
  CHECK(osor::harness::resolve_jobs(3) == 3);
  PipelineStages stages;
  stages.prepare = [](size_t) { FAIL("no item to prepare"); };
  run_pipeline(0, 4, true, stages);
}
