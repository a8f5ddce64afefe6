// The latency profiler's protocol (harness/latency/latency_profiler.h) with fake removers: statistics exact for
// known samples (a fake clock), warm-up iterations excluded, stages summed per iteration and consistent with the
// total, batches, load outside the timed region, peak memory readings; and, where a GPU is present, the same on
// CUDA with the tiny OSOR-SDXL (device-event stages, CUDA allocator peak).
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "adapters/error.h"
#include "adapters/registry.h"
#include "harness/error.h"
#include "harness/latency/latency_profiler.h"
#include "harness/latency/latency_report.h"
#include "harness/latency/latency_stats.h"
#include "harness/latency/peak_memory.h"
#include "harness/latency/synthetic_latency_inputs.h"
#include "model/stage_timer.h"
#include "tests/test_paths.h"

using osor::harness::LatencyConfig;
using osor::harness::profile_latency;

namespace {

// remove() call k advances a fake clock by durations[k] ms and reports stages that cover 95 % of it: "encode"
// 25 %, "backbone" 50 % in two calls, "decode" 20 %; the other 5 % is outside every stage.
class ScriptedRemover final : public osor::adapters::Remover {
 public:
  ScriptedRemover(double& now, std::vector<double> durations) : now_(now), durations_(std::move(durations)) {}
  std::string id() const override { return "scripted"; }
  osor::adapters::RemovalOutput remove(const osor::adapters::RemovalInput& input) override {
    const double d = durations_.at(calls_++);
    now_ += d;
    osor::adapters::RemovalOutput out;
    out.image = input.image;
    out.stages_ms = {{"encode", 0.25 * d}, {"backbone", 0.5 * d}, {"decode", 0.2 * d}};
    out.stage_calls = {{"encode", 1}, {"backbone", 2}, {"decode", 1}};
    return out;
  }
  void synchronize() override { ++syncs; }
  int syncs = 0;

 private:
  double& now_;
  std::vector<double> durations_;
  size_t calls_ = 0;
};

// Sleeps: the first `slow` calls 300 ms (the warm-up), then 20 ms, of which 8 + 8 ms in two stages.
class SleepingRemover final : public osor::adapters::Remover {
 public:
  explicit SleepingRemover(int slow, int load_ms = 0) : slow_(slow) {
    std::this_thread::sleep_for(std::chrono::milliseconds(load_ms));  // the "model load"
  }
  std::string id() const override { return "sleeping"; }
  osor::adapters::RemovalOutput remove(const osor::adapters::RemovalInput& input) override {
    osor::adapters::RemovalOutput out;
    out.image = input.image;
    if (calls_++ < slow_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return out;
    }
    for (const char* stage : {"first", "second"}) {
      const double t0 = osor::harness::steady_clock_ms();
      std::this_thread::sleep_for(std::chrono::milliseconds(8));
      out.stages_ms[stage] = osor::harness::steady_clock_ms() - t0;
      out.stage_calls[stage] = 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
    return out;
  }

 private:
  int slow_;
  int calls_ = 0;
};

class FolderRemover final : public osor::adapters::Remover {
 public:
  std::string id() const override { return "folder"; }
  bool processes_folders() const override { return true; }
  osor::adapters::RemovalOutput remove(const osor::adapters::RemovalInput&) override { return {}; }
};

}  // namespace

TEST_CASE("latency statistics: numpy-linear percentiles and population std on known samples") {
  // numpy 1.x/2.x: np.percentile(np.arange(1, 11), [50, 90, 99]) = [5.5, 9.1, 9.91]; np.std = sqrt(8.25).
  std::vector<double> ten;
  for (int i = 10; i >= 1; --i) ten.push_back(i);  // any order
  const auto a = osor::harness::summarize_latency(ten);
  CHECK(a.n == 10);
  CHECK(a.mean == doctest::Approx(5.5).epsilon(1e-15));
  CHECK(a.median == doctest::Approx(5.5).epsilon(1e-15));
  CHECK(a.p90 == doctest::Approx(9.1).epsilon(1e-15));
  CHECK(a.p99 == doctest::Approx(9.91).epsilon(1e-15));
  CHECK(a.std == doctest::Approx(std::sqrt(8.25)).epsilon(1e-15));
  CHECK(a.min == 1);
  CHECK(a.max == 10);
  // Type-7 percentiles and the population std of an uneven set (Python's statistics.pstdev for the std).
  const auto b = osor::harness::summarize_latency({12.5, 3.0, 7.25, 100.0, 4.5, 9.0, 15.75});
  CHECK(b.median == 9.0);
  CHECK(b.p90 == doctest::Approx(49.45).epsilon(1e-14));
  CHECK(b.p99 == doctest::Approx(94.945).epsilon(1e-14));
  CHECK(b.mean == doctest::Approx(21.714285714285715).epsilon(1e-15));
  CHECK(b.std == doctest::Approx(32.21923465311759).epsilon(1e-14));
  const auto one = osor::harness::summarize_latency({7.0});
  CHECK(one.std == 0);
  CHECK(one.p99 == 7.0);
  CHECK_THROWS_AS(osor::harness::summarize_latency({}), osor::HarnessError);
  CHECK_THROWS_AS(osor::harness::percentile_linear({1.0}, 101), osor::HarnessError);
}

TEST_CASE("latency profiler: warm-up excluded, statistics and stages exact on a fake clock") {
  double now = 0;
  // 3 warm-up calls of 1000 ms, then 5 timed calls.
  ScriptedRemover remover(now, {1000, 1000, 1000, 10, 30, 20, 50, 40});
  const auto inputs = osor::harness::synthetic_inputs(16, 1, 0);
  LatencyConfig config;
  config.res = 16;
  config.warmup = 3;
  config.iters = 5;
  const auto r = profile_latency(remover, inputs, config, c10::Device(c10::kCPU), [&] { return now; });
  CHECK(r.iteration_ms == std::vector<double>{10, 30, 20, 50, 40});
  CHECK(r.stats.median == 30);
  CHECK(r.stats.mean == 30);
  CHECK(r.stats.max == 50);  // no warm-up call in the statistics
  CHECK(r.stats.p90 == doctest::Approx(46.0).epsilon(1e-15));
  CHECK(r.stats.std == doctest::Approx(std::sqrt(200.0)).epsilon(1e-15));
  // Stages: medians of the per-iteration values; together 95 % of the median iteration, the rest unaccounted.
  CHECK(r.stage_median_ms.at("encode") == doctest::Approx(7.5));
  CHECK(r.stage_median_ms.at("backbone") == doctest::Approx(15.0));
  CHECK(r.stage_median_ms.at("decode") == doctest::Approx(6.0));
  CHECK(r.stage_calls.at("backbone") == 2);
  CHECK(r.unaccounted_median_ms == doctest::Approx(1.5));
  CHECK(r.stages_total_median_ms == doctest::Approx(28.5));
  // Synchronised before and after every iteration, warm-up included.
  CHECK(remover.syncs == 2 * (3 + 5));
}

TEST_CASE("latency profiler: a batch is N sequential calls, stages summed over them") {
  double now = 0;
  ScriptedRemover remover(now, {500, 500, 10, 20, 30, 40, 50, 60});
  const auto inputs = osor::harness::synthetic_inputs(16, 2, 0);
  LatencyConfig config;
  config.res = 16;
  config.batch = 2;
  config.warmup = 1;
  config.iters = 3;
  const auto r = profile_latency(remover, inputs, config, c10::Device(c10::kCPU), [&] { return now; });
  CHECK(r.iteration_ms == std::vector<double>{30, 70, 110});
  CHECK(r.stage_median_ms.at("backbone") == doctest::Approx(35.0));
  CHECK(r.stage_calls.at("backbone") == 2);  // per remove() call, not per batch
  osor::harness::LatencyRun run;
  run.method = "scripted";
  run.dtype = "fp32";
  run.device = "cpu";
  run.results = {r};
  const auto j = osor::harness::latency_json(run);
  CHECK(j["configs"][0]["median_ms"] == 70.0);
  CHECK(j["configs"][0]["per_image_median_ms"] == 35.0);
  CHECK(j["configs"][0]["batch"] == 2);
}

TEST_CASE("latency profiler: real clock, slow warm-up calls and the load stay out of the statistics") {
  // Sleeps are lower bounds on any machine; the only upper bound asserted is that no 300 ms call was timed.
  const double load_start = osor::harness::steady_clock_ms();
  SleepingRemover remover(/*slow=*/2, /*load_ms=*/300);
  const double load_ms = osor::harness::steady_clock_ms() - load_start;
  LatencyConfig config;
  config.res = 16;
  config.warmup = 2;
  config.iters = 4;
  const auto r = profile_latency(remover, osor::harness::synthetic_inputs(16, 1, 0), config, c10::Device(c10::kCPU));
  CHECK(load_ms >= 300);
  REQUIRE(r.iteration_ms.size() == 4);
  CHECK(r.stats.min >= 20.0);
  CHECK(r.stats.max < 300.0);
  // Stages lie inside the timed call: their sum never exceeds the iteration (margin 0.01 ms for clock rounding),
  // and the 4 ms outside them shows up as unaccounted time.
  CHECK(r.stages_total_median_ms >= 16.0);
  CHECK(r.stages_total_median_ms <= r.stats.median);
  CHECK(r.unaccounted_median_ms >= 4.0 - 0.01);
}

TEST_CASE("latency profiler: folder methods and bad configurations are refused with a message") {
  FolderRemover folder;
  const auto inputs = osor::harness::synthetic_inputs(16, 1, 0);
  CHECK_THROWS_WITH_AS(profile_latency(folder, inputs, {}, c10::Device(c10::kCPU)),
                       doctest::Contains("processes whole folders"), osor::HarnessError);
  double now = 0;
  ScriptedRemover remover(now, {1});
  LatencyConfig bad;
  bad.iters = 0;
  CHECK_THROWS_WITH_AS(profile_latency(remover, inputs, bad, c10::Device(c10::kCPU)),
                       "--iters must be at least 1 (got 0)", osor::HarnessError);
}

TEST_CASE("latency inputs: seeded synthetic images with a centred mask over 25 % of the pixels") {
  const auto a = osor::harness::synthetic_inputs(64, 2, 7), b = osor::harness::synthetic_inputs(64, 2, 7);
  REQUIRE(a.size() == 2);
  CHECK(a[0].image.equal(b[0].image));
  CHECK(!a[0].image.equal(a[1].image));
  CHECK((a[0].image.sizes() == at::IntArrayRef({1, 3, 64, 64})));
  CHECK(a[0].mask.sum().item<double>() == 64 * 64 / 4);
  CHECK(a[0].mask[0][0][32][32].item<float>() == 1.0f);
  CHECK(a[0].mask[0][0][0][0].item<float>() == 0.0f);
  const auto resized = osor::harness::resized_input(a[0], 32);
  CHECK((resized.mask.sizes() == at::IntArrayRef({1, 1, 32, 32})));
  CHECK(resized.mask.sum().item<double>() == 32 * 32 / 4);
}

TEST_CASE("peak memory: host peak RSS read from /proc, reset per configuration where the kernel allows") {
  const int64_t rss = osor::harness::host_rss_bytes();
  REQUIRE(rss > 0);
  const bool reset = osor::harness::reset_host_peak();
  {
    std::vector<char> block(size_t{96} << 20, 1);  // 96 MiB, touched
    CHECK(block[12345] == 1);
  }
  const auto peak = osor::harness::read_host_peak(reset);
  CHECK(peak.since_reset == reset);
  CHECK(peak.bytes >= rss + (int64_t{90} << 20));
  MESSAGE("per-configuration peak reset through /proc/self/clear_refs: " << std::string(reset ? "available" : "refused here"));
  if (reset) {
    CHECK(osor::harness::reset_host_peak());
    CHECK(osor::harness::read_host_peak(true).bytes < peak.bytes);
  }
  const auto device = osor::harness::read_device_peak(c10::Device(c10::kCPU));
  CHECK(device.allocated_bytes == -1);
}

TEST_CASE("latency on CUDA: tiny OSOR-SDXL, device-event stages and the allocator peak (skipped without a GPU)") {
  if (!at::hasCUDA()) {
    MESSAGE("SKIPPED: no CUDA device; the CUDA path of the latency profiler was not exercised");
    return;
  }
  osor::adapters::RemoverContext context;
  context.device = "cuda";
  context.dtype = "fp32";
  context.random_weights = true;
  context.weights_dir = std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny";
  auto remover = osor::adapters::make_remover(osor::adapters::MethodSpec::parse("osor-sdxl"), context);
  LatencyConfig config;
  config.res = 64;
  config.warmup = 1;
  config.iters = 3;
  const auto r = profile_latency(*remover, osor::harness::synthetic_inputs(64, 1, 0), config, c10::Device("cuda"));
  CHECK(r.stage_median_ms.count("unet") == 1);
  // Device events lie inside the host-timed iteration; 0.05 ms covers the events' resolution.
  CHECK(r.stages_total_median_ms <= r.stats.median + 0.05);
  CHECK(r.unaccounted_median_ms >= -0.05);
  MESSAGE("CUDA stage clock: " << osor::model::stage_clock_name(c10::Device("cuda")) << ", peak allocated "
                               << r.device_peak.allocated_bytes << " bytes");
#if OSOR_TESTS_TORCH_CUDA
  CHECK(r.device_peak.allocated_bytes > 0);
  CHECK(r.device_peak.reserved_bytes >= r.device_peak.allocated_bytes);
#endif
}
