// `osor train-step` end to end on the CPU with the tiny configs (model/configs/tiny): the JSON object (what a GPU
// report records: step and G/D batch times, peak memory, the generator), --out equal to --json, both backbones,
// and the error paths. Numbers that depend on the machine's speed are not asserted.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

using nlohmann::json;

namespace {

std::string tiny_configs() { return (std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny").string(); }

}  // namespace

TEST_CASE("osor train-step: one timed G + D step of tiny SDXL and FLUX on the CPU, JSON and --out") {
  const auto dir = osor::test::scratch_dir("cli_train_step");
  for (const std::string backbone : {"sdxl", "flux"}) {
    CAPTURE(backbone);
    const auto out = dir / (backbone + ".json");
    const auto r = osor::test::run_osor("train-step --backbone " + backbone + " --phase 2 --random-weights " + tiny_configs() +
                                        " --res 96 --batch 1 --lora-rank 4 --dtype fp32 --warmup 1 --iters 2 --json --out " +
                                        out.string() + (backbone == "flux" ? " --no-gradient-checkpointing" : ""));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json j = json::parse(r.out);
    CHECK(j == json::parse(std::ifstream(out)));
    CHECK(j["format"] == "osor-train-step/1");
    CHECK(j["backbone"] == backbone);
    CHECK(j["gradient_checkpointing"] == (backbone == "sdxl"));  // official: on
    CHECK(j["step_ms"].size() == 2);
    for (const auto& ms : j["step_ms"]) CHECK(ms.get<double>() > 0);
    CHECK(j["step_median_ms"].get<double>() >= j["generator_batch_median_ms"].get<double>());
    CHECK(j["steps_per_second"].get<double>() > 0);
    CHECK(j["device_peak_allocated_gib"].is_null());  // the CPU: not measured
    CHECK(j["trainable_tensors"].get<int64_t>() > 0);
    CHECK(j["generator"].get<std::string>().find("rank 4") != std::string::npos);
    CHECK(j["last_losses"].contains("G_alpha"));
    CHECK(j["last_losses"].contains("D_gp"));
    for (const auto& [name, v] : j["last_losses"].items()) CHECK_MESSAGE(std::isfinite(v.get<double>()), name);
    CHECK(j["system"]["kind"] == "cpu");
  }
  auto r = osor::test::run_osor("train-step --random-weights " + tiny_configs() + " --res 100");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("multiple of 16") != std::string::npos);
  r = osor::test::run_osor("train-step --random-weights " + (dir / "none").string());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is not a folder") != std::string::npos);
  r = osor::test::run_osor("train-step --random-weights " + tiny_configs() + " --backbone dit");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--backbone must be sdxl or flux, got dit") != std::string::npos);
}
