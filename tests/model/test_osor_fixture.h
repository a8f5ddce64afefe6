// Shared by the OSOR-SDXL model tests: opens a fixture of ../shared/conformance/model (<name>.json and
// <name>.io.safetensors) and compares tensors in float64.
#pragma once

#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "model/io/safetensors.h"
#include "model/error.h"
#include "tests/conformance_fixture.h"
#include "tests/test_paths.h"

namespace osor::test {

struct ModelFixture {
  std::filesystem::path dir;
  nlohmann::json json;
  model::SafetensorsFile io;
  std::filesystem::path file(const std::string& suffix) const { return dir / (name + suffix); }
  at::Tensor tensor(const std::string& key) const { return io.tensor(key).clone(); }
  std::string name;
};

// The fixture, or nullopt (after a SKIPPED message) when the conformance folder is absent.
inline std::optional<ModelFixture> open_model_fixture(const std::string& name) {
  const std::filesystem::path root = conformance_root_with("model/" + name + ".json");
  if (root.empty()) return std::nullopt;
  const std::filesystem::path dir = root / "model";
  std::ifstream in(dir / (name + ".json"));
  nlohmann::json json = nlohmann::json::parse(in);
  return ModelFixture{dir, std::move(json), model::SafetensorsFile::open(dir / (name + ".io.safetensors")), name};
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

inline void write_fixture_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Arranges the fixture files as a weights directory. The OSOR checkpoint is the fixture's safetensors twin of
// its state_dict.pth (same keys); the prompt cache holds the tensors of the fixture's prompt_embeds.pt.
inline std::filesystem::path arrange_osor_sdxl_weights(const osor::test::ModelFixture& e2e) {
  const auto dir = process_scratch_dir("osor_sdxl_e2e_weights");
  const auto src = e2e.dir;
  const auto unet_json = nlohmann::json::parse(std::ifstream(src / "sdxl_unet.json")).at("config");
  const auto vae_json = nlohmann::json::parse(std::ifstream(src / "sdxl_vae.json")).at("config");
  write_fixture_text(dir / "sdxl-inpainting/unet/config.json", unet_json.dump());
  write_fixture_text(dir / "sdxl-inpainting/vae/config.json", vae_json.dump());
  write_fixture_text(dir / "sdxl-inpainting/scheduler/scheduler_config.json", e2e.json.at("scheduler_config").dump());
  std::filesystem::copy_file(src / "sdxl_unet.weights.safetensors",
                             dir / "sdxl-inpainting/unet/diffusion_pytorch_model.safetensors");
  std::filesystem::copy_file(src / "sdxl_vae.weights.safetensors",
                             dir / "sdxl-inpainting/vae/diffusion_pytorch_model.safetensors");
  std::filesystem::create_directories(dir / "osor-sdxl");
  std::filesystem::copy_file(src / "sdxl_unet_osor.lora.safetensors", dir / "osor-sdxl/state_dict.safetensors");
  osor::model::write_safetensors(dir / "osor-sdxl/prompt_embeds.safetensors",
                                 {{"prompt_embeds", e2e.tensor("encoder_hidden_states_f32")},
                                  {"pooled_prompt_embeds", e2e.tensor("text_embeds_f32")}});
  return dir;
}

}  // namespace osor::test
