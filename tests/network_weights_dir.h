// A weights folder laid out as model/weights_manifest.h names it, filled with the conformance fixtures'
// random-weight networks: LPIPS-Alex (trunk and linear layers split as the manifest does), the tiny CLIP
// vision tower in the full-CLIP layout (nested vision_config, top-level projection_dim), and the FID
// Inception (formula conv weights + the batch-norm fixture in one file). Shared by the CLI tests of
// `osor score`, `osor features` and `osor eval`.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "model/io/safetensors.h"
#include "tests/metrics/inception_formula_weights.h"

namespace osor::test {

inline void write_lpips_alex_weights(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  const auto file = model::SafetensorsFile::open(conf / "lpips" / "lpips_alex_v0.1_weights.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> trunk, lin;
  for (const auto& name : file.names()) (name.rfind("lin", 0) == 0 ? lin : trunk).emplace_back(name, file.tensor(name));
  std::filesystem::create_directories(weights);
  model::write_safetensors(weights / "alexnet.safetensors", trunk);
  model::write_safetensors(weights / "lpips_alex_v0.1.safetensors", lin);
}

inline void write_clip_weights(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  std::ifstream in(conf / "cmmd" / "expected.json");
  const nlohmann::json vision = nlohmann::json::parse(in)["clip"]["config"];
  const std::filesystem::path clip_dir = weights / "clip-vit-large-patch14-336";
  std::filesystem::create_directories(clip_dir);
  std::ofstream(clip_dir / "config.json")
      << nlohmann::json{{"projection_dim", vision["projection_dim"]}, {"vision_config", vision}}.dump(2);
  std::filesystem::copy_file(conf / "cmmd" / "clip_vision_tiny_random_weights.safetensors",
                             clip_dir / "model.safetensors", std::filesystem::copy_options::overwrite_existing);
}

inline void write_inception_weights(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  std::filesystem::create_directories(weights);
  const std::filesystem::path conv = weights / "inception_formula_conv.tmp.safetensors";
  write_formula_weights(conf / "fid" / "inception_state_dict_keys.json", conv);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  {
    const auto formula = model::SafetensorsFile::open(conv);
    for (const auto& name : formula.names()) tensors.emplace_back(name, formula.tensor(name).clone());
    const auto bn = model::SafetensorsFile::open(conf / "fid" / "inception_fid_bn.safetensors");
    for (const auto& name : bn.names()) tensors.emplace_back(name, bn.tensor(name).clone());
  }
  std::filesystem::remove(conv);
  model::write_safetensors(weights / "pt_inception-2015-12-05.safetensors", tensors);
}

// All three, into `weights`.
inline void write_network_weights_dir(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  write_lpips_alex_weights(conf, weights);
  write_clip_weights(conf, weights);
  write_inception_weights(conf, weights);
}

}  // namespace osor::test
