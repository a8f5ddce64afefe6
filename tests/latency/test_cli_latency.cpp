// `osor latency` end to end on the CPU with the tiny OSOR-SDXL (random weights from model/configs/tiny, and the
// conformance fixture's weights where ../shared/conformance is present): the JSON object's structure (issue 6's
// fields), --out equal to what --json prints, stages consistent with the total, the table, and the error paths.
// Numbers that depend on the machine's speed are not asserted.
#include <doctest/doctest.h>

#include <ATen/Context.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli/osor_command.h"
#include "tests/model/test_osor_fixture.h"
#include "tests/test_paths.h"

using nlohmann::json;

namespace {

std::string tiny_configs() { return (std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny").string(); }

void check_latency_json(const json& j, const std::string& method, size_t configs) {
  CHECK(j["format"] == "osor-latency/1");
  for (const char* key : {"name", "driver", "libtorch", "cuda", "cpu", "cpu_threads", "kind", "host_allocator"})
    CHECK_MESSAGE(j["device"].contains(key), "device." << key);
  // The osor CLI sets the host allocator policy first thing (model/host_allocator.h).
  CHECK(j["device"]["host_allocator"] == "glibc malloc, mmap and trim thresholds 1 GiB");
  CHECK(j["device"]["kind"] == "cpu");
  CHECK(j["device"]["libtorch"].is_string());
  REQUIRE(j["load_ms"].is_number());
  CHECK(j["load_ms"].get<double>() > 0);
  for (const char* key : {"load", "inputs", "warmup", "timed_region", "batch", "stages", "percentiles", "std",
                          "peak_host_rss", "peak_device_mem"})
    CHECK_MESSAGE(j["protocol"].contains(key), "protocol." << key);
  REQUIRE(j["configs"].size() == configs);
  for (const auto& c : j["configs"]) {
    for (const char* key : {"method", "res", "batch", "dtype", "device", "iters", "warmup", "mean_ms", "median_ms",
                            "p90_ms", "p99_ms", "min_ms", "std_ms", "stages", "stage_calls", "peak_device_mem_bytes",
                            "peak_host_rss_bytes"})
      CHECK_MESSAGE(c.contains(key), "configs[]." << key);
    CHECK(c["method"] == method);
    CHECK(c["device"] == "cpu");
    CHECK(c["peak_device_mem_bytes"].is_null());  // not measured on the CPU
    CHECK(c["peak_host_rss_bytes"].get<int64_t>() > 0);
    REQUIRE(c["samples_ms"].size() == c["iters"].get<size_t>());
    const double median = c["median_ms"], min = c["min_ms"], p90 = c["p90_ms"], p99 = c["p99_ms"];
    CHECK(min <= median);
    CHECK(median <= p90);
    CHECK(p90 <= p99);
    CHECK(c["std_ms"].get<double>() >= 0);
  }
}

}  // namespace

TEST_CASE("osor latency: tiny OSOR-SDXL with random weights on the CPU, JSON structure and stages") {
  const auto dir = osor::test::scratch_dir("cli_latency_random");
  const auto out = dir / "latency.json";
  const auto r = osor::test::run_osor("latency --method osor-sdxl --random-weights " + tiny_configs() +
                                      " --res 64 --res 32 --batch 1,2 --warmup 1 --iters 3 --json --out " + out.string());
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  check_latency_json(j, "osor-sdxl", 4);
  CHECK(j["weights"] == "random: " + tiny_configs());
  CHECK(j["inputs"] == "synthetic");
  CHECK(j["cudnn_benchmark"] == false);  // --cudnn-benchmark auto: on for CUDA only
  std::ifstream in(out);
  CHECK(json::parse(in) == j);
  std::vector<std::pair<int64_t, int>> order;
  for (const auto& c : j["configs"]) {
    order.emplace_back(c["res"].get<int64_t>(), c["batch"].get<int>());
    // The in-tree model's stages, each once per removal; on the CPU measured with a synchronised steady clock.
    for (const char* stage : {"preprocess", "vae_encode", "unet", "vae_decode", "postprocess"}) {
      CHECK_MESSAGE(c["stages"].contains(stage), stage);
      CHECK(c["stage_calls"][stage] == 1);
    }
    CHECK(c["stage_clock"] == "steady-clock");
    // Stages lie inside the timed iteration: per iteration their sum is at most its time, hence so is the median
    // of the sums. No lower bound on the ratio: on this shared machine a descheduled process between two stages
    // makes any wall-clock ratio flaky; that every stage was timed and is positive is structural.
    const double median = c["median_ms"], total = c["stages_total_median_ms"];
    CHECK(total <= median);
    CHECK(total > 0);
    for (const auto& [stage, ms] : c["stages"].items()) CHECK_MESSAGE(ms.get<double>() > 0, stage);
    CHECK(c["unaccounted_median_ms"].get<double>() >= 0);
    CHECK(c["per_image_median_ms"].get<double>() ==
          doctest::Approx(c["median_ms"].get<double>() / c["batch"].get<int>()));
  }
  CHECK(order == std::vector<std::pair<int64_t, int>>{{64, 1}, {64, 2}, {32, 1}, {32, 2}});
}

TEST_CASE("osor latency: execution options reach the method and the JSON (channels-last UNet, cuDNN flag)") {
  const auto r = osor::test::run_osor("latency --method osor-sdxl:channels_last=1 --random-weights " + tiny_configs() +
                                      " --res 32 --warmup 0 --iters 1 --cudnn-benchmark on --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  check_latency_json(j, "osor-sdxl:channels_last=1", 1);
  CHECK(j["cudnn_benchmark"] == true);
}

TEST_CASE("osor latency: tiny OSOR-SDXL from weight files (osor_sdxl_e2e fixture), readable table") {
  const auto fx = osor::test::open_model_fixture("osor_sdxl_e2e");
  if (!fx) return;
  const auto weights = osor::test::arrange_osor_sdxl_weights(*fx);
  const auto r = osor::test::run_osor("latency --method osor-sdxl --weights " + weights.string() +
                                      " --res 48 --warmup 1 --iters 2");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("osor latency: osor-sdxl on cpu") != std::string::npos);
  CHECK(r.out.find("weights files: " + weights.string()) != std::string::npos);
  CHECK(r.out.find("median") != std::string::npos);
  CHECK(r.out.find("stages, median ms per iteration: postprocess") != std::string::npos);
  CHECK(r.out.find("warm-up excluded") != std::string::npos);
}

TEST_CASE("osor latency: a method without stages, and benchmark inputs where the build reads images") {
  const auto r = osor::test::run_osor("latency --method identity --res 32 --warmup 0 --iters 2 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  check_latency_json(j, "identity", 1);
  CHECK(j["configs"][0]["stages"].empty());
  // The thread count the run used is recorded: `osor --threads N` sets it.
  const auto one = osor::test::run_osor("--threads 1 latency --method identity --res 32 --warmup 0 --iters 2 --json");
  REQUIRE_MESSAGE(one.exit_code == 0, one.err);
  CHECK(json::parse(one.out)["device"]["cpu_threads"] == 1);
  CHECK(osor::test::run_osor("--threads 0 list").exit_code == 2);
  const auto bench = osor::test::run_osor("latency --method identity --bench sample --samples 2 --res 32 --iters 2 --json");
#if OSOR_TESTS_WITH_OPENCV
  REQUIRE_MESSAGE(bench.exit_code == 0, bench.err);
  CHECK(json::parse(bench.out)["inputs"] == "bench:sample/object");
#else
  CHECK(bench.exit_code == 2);
  CHECK(bench.err.find("OSOR_WITH_OPENCV=OFF") != std::string::npos);
#endif
}

TEST_CASE("osor latency: errors are one line naming the problem") {
  const auto missing = osor::test::scratch_dir("cli_latency_missing");
  auto r = osor::test::run_osor("latency --method osor-sdxl --random-weights " + missing.string() + " --res 32");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("sdxl-inpainting/unet/config.json") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  r = osor::test::run_osor("latency --method identity --batch 0 --res 32");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--batch 0") != std::string::npos);
  r = osor::test::run_osor("latency --method identity --weights /x --random-weights /y");
  CHECK(r.exit_code != 0);
  r = osor::test::run_osor("latency --method identity --cudnn-benchmark maybe --res 32");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--cudnn-benchmark maybe: expected auto, on or off") != std::string::npos);
  r = osor::test::run_osor("latency --method osor-sdxl:cuda_graphs=1 --random-weights " + tiny_configs() + " --res 32");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("CUDA graphs need a CUDA device") != std::string::npos);
  r = osor::test::run_osor("latency --method osor-sdxl:channels_last=yes --random-weights " + tiny_configs() + " --res 32");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("channels_last=yes must be 1/0, on/off or true/false") != std::string::npos);
  if (!at::hasCUDA()) {
    r = osor::test::run_osor("latency --method identity --device cuda --res 32");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--device cuda: this LibTorch has no CUDA support or no GPU is visible") != std::string::npos);
  }
}
