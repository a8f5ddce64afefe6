// The conformance fixtures' random-weight feature networks, built from the fixture set's files only: the FID
// Inception (README 2b formula conv weights + the batch-norm fixture), LPIPS-Alex (trunk and v0.1 linear layers
// in one file) and the tiny CLIP vision tower (whose config the fixture gives only inside cmmd/expected.json).
// The metric tests load them directly (conformance_inception, conformance_lpips_alex, conformance_clip); the CLI
// tests of `osor score`, `osor features` and `osor eval` get them laid out as model/weights_manifest.h names
// the files (write_network_weights_dir).
#pragma once

#include <c10/core/Device.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "metrics/networks/lpips_net.h"
#include "model/io/safetensors.h"
#include "tests/metrics/inception_formula_weights.h"
#include "tests/test_paths.h"

namespace osor::test {

inline std::filesystem::path lpips_alex_weights_file(const std::filesystem::path& conf) {
  return conf / "lpips" / "lpips_alex_v0.1_weights.safetensors";
}

inline std::filesystem::path clip_weights_file(const std::filesystem::path& conf) {
  return conf / "cmmd" / "clip_vision_tiny_random_weights.safetensors";
}

// The tiny tower's vision config as the fixture gives it (cmmd/expected.json clip.config, projection_dim in it).
inline nlohmann::json clip_vision_config(const std::filesystem::path& conf) {
  std::ifstream in(conf / "cmmd" / "expected.json");
  return nlohmann::json::parse(in).at("clip").at("config");
}

// The full CLIPConfig layout of the HF repository: the tower nested in vision_config, projection_dim at the top
// level only (so a loader that read it from vision_config would fail).
inline nlohmann::json clip_full_config(nlohmann::json vision) {
  nlohmann::json full = {{"projection_dim", vision.at("projection_dim")}};
  vision.erase("projection_dim");
  full["vision_config"] = std::move(vision);
  return full;
}

// The Inception's weight files: {the formula conv weights, written to a scratch folder of this process; the
// batch-norm fixture}. `report` (if given) receives the formula tensors' sha256 check against the keys file.
inline std::vector<std::filesystem::path> inception_weight_files(const std::filesystem::path& conf,
                                                                 FormulaWeightsReport* report = nullptr) {
  const std::filesystem::path conv = process_scratch_dir("conformance_inception") / "inception_formula_conv.safetensors";
  const FormulaWeightsReport r = write_formula_weights(conf / "fid" / "inception_state_dict_keys.json", conv);
  if (report) *report = r;
  return {conv, conf / "fid" / "inception_fid_bn.safetensors"};
}

inline metrics::InceptionFid conformance_inception(const std::filesystem::path& conf) {
  return metrics::InceptionFid::load(inception_weight_files(conf), c10::Device(c10::kCPU));
}

inline metrics::LpipsNet conformance_lpips_alex(const std::filesystem::path& conf) {
  return metrics::LpipsNet::load(metrics::LpipsTrunk::Alex, {lpips_alex_weights_file(conf)}, c10::Device(c10::kCPU));
}

// The tiny CLIP tower, loaded through a config.json in the full CLIPConfig layout.
inline metrics::ClipVision conformance_clip(const std::filesystem::path& conf) {
  const std::filesystem::path config = process_scratch_dir("conformance_clip") / "config.json";
  std::ofstream(config) << clip_full_config(clip_vision_config(conf)).dump(2);
  return metrics::ClipVision::load(config, clip_weights_file(conf), c10::Device(c10::kCPU));
}

// The weights folder files (model/weights_manifest.h names) ------------------------------------------------

// alexnet.safetensors (trunk) and lpips_alex_v0.1.safetensors (linear layers), split as the manifest does.
inline void write_lpips_alex_weights(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  const auto file = model::SafetensorsFile::open(lpips_alex_weights_file(conf));
  std::vector<std::pair<std::string, at::Tensor>> trunk, lin;
  for (const auto& name : file.names()) (name.rfind("lin", 0) == 0 ? lin : trunk).emplace_back(name, file.tensor(name));
  std::filesystem::create_directories(weights);
  model::write_safetensors(weights / "alexnet.safetensors", trunk);
  model::write_safetensors(weights / "lpips_alex_v0.1.safetensors", lin);
}

// clip-vit-large-patch14-336/{config.json, model.safetensors}.
inline void write_clip_weights(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  const std::filesystem::path clip_dir = weights / "clip-vit-large-patch14-336";
  std::filesystem::create_directories(clip_dir);
  std::ofstream(clip_dir / "config.json") << clip_full_config(clip_vision_config(conf)).dump(2);
  std::filesystem::copy_file(clip_weights_file(conf), clip_dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
}

// pt_inception-2015-12-05.safetensors: the formula conv weights and the batch-norm fixture in one file.
inline void write_inception_weights(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  std::filesystem::create_directories(weights);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& path : inception_weight_files(conf)) {
    const auto file = model::SafetensorsFile::open(path);
    for (const auto& name : file.names()) tensors.emplace_back(name, file.tensor(name).clone());
  }
  model::write_safetensors(weights / "pt_inception-2015-12-05.safetensors", tensors);
}

// All three, into `weights`.
inline void write_network_weights_dir(const std::filesystem::path& conf, const std::filesystem::path& weights) {
  write_lpips_alex_weights(conf, weights);
  write_clip_weights(conf, weights);
  write_inception_weights(conf, weights);
}

}  // namespace osor::test
