// `osor latency` covers the FLUX methods: osor-flux (one transformer call) and flux-fill (one per step) with random
// weights from the tiny FLUX.1-Fill configs (model/configs/tiny/flux-fill, the structure of model/configs/full), on
// the CPU: per-stage timing (encode, transformer per call, decode) in the JSON. Speeds are not asserted.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

using nlohmann::json;

namespace {

std::string tiny_configs() { return (std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny").string(); }

void check_flux_stages(const json& j, const std::string& method, int64_t transformer_calls) {
  REQUIRE(j["configs"].is_array());
  REQUIRE(!j["configs"].empty());
  for (const auto& c : j["configs"]) {
    CHECK(c["method"] == method);
    for (const char* stage : {"preprocess", "vae_encode", "transformer", "vae_decode", "postprocess"})
      CHECK_MESSAGE(c["stages"].contains(stage), stage);
    CHECK(c["stage_calls"]["vae_encode"] == 1);
    CHECK(c["stage_calls"]["transformer"] == transformer_calls);
    CHECK(c["stage_calls"]["vae_decode"] == 1);
    CHECK(c["stages_total_median_ms"].get<double>() <= c["median_ms"].get<double>());
  }
}

}  // namespace

TEST_CASE("osor latency: tiny OSOR-FLUX and FLUX-Fill with random weights on the CPU, per-stage timing") {
  auto r = osor::test::run_osor("latency --method osor-flux --random-weights " + tiny_configs() +
                                " --res 64 --res 32 --warmup 1 --iters 2 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json j = json::parse(r.out);
  CHECK(j["configs"].size() == 2);
  check_flux_stages(j, "osor-flux", 1);

  r = osor::test::run_osor("latency --method flux-fill:size=32,steps=3 --random-weights " + tiny_configs() +
                           " --res 32 --warmup 0 --iters 1 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  j = json::parse(r.out);
  check_flux_stages(j, "flux-fill:size=32,steps=3", 3);
}

TEST_CASE("osor latency: osor-flux with random weights names a missing FLUX config in one line") {
  const auto empty = osor::test::scratch_dir("latency_flux_no_configs");
  const auto r = osor::test::run_osor("latency --method osor-flux --random-weights " + empty.string() +
                                      " --res 32 --warmup 0 --iters 1");
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("flux-fill/transformer/config.json") != std::string::npos);
}

TEST_CASE("osor latency: tiny OmniPaint and OmniEraser with random weights on the CPU, per-stage timing") {
  auto r = osor::test::run_osor("latency --method omnipaint:steps=2 --random-weights " + tiny_configs() +
                                " --res 32 --warmup 0 --iters 1 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  check_flux_stages(json::parse(r.out), "omnipaint:steps=2", 2);

  r = osor::test::run_osor("latency --method omnieraser:size=32,steps=3 --random-weights " + tiny_configs() +
                           " --res 32 --warmup 0 --iters 1 --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  check_flux_stages(json::parse(r.out), "omnieraser:size=32,steps=3", 3);

  const auto empty = osor::test::scratch_dir("latency_flux_dev_no_configs");
  r = osor::test::run_osor("latency --method omnipaint --random-weights " + empty.string() +
                           " --res 32 --warmup 0 --iters 1");
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("flux-dev/transformer/config.json") != std::string::npos);
}
