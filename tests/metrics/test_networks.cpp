// The feature networks against the conformance fixtures, from inputs the fixtures give as tensors (no image
// decoding, so this file stays OpenCV-free): FID Inception pool3 from the reference's resized inputs, the tiny
// CLIP tower from the reference's pixel_values, the LPIPS AlexNet taps. PNG-to-feature checks are in
// tests/conformance/test_networks_conformance.cpp.
#include <doctest/doctest.h>
#include <unistd.h>
#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "metrics/networks/lpips_net.h"
#include "model/error.h"
#include "model/io/safetensors.h"
#include "tests/metrics/inception_formula_weights.h"
#include "tests/fixture_tensors.h"
#include "tests/test_paths.h"

using namespace osor;
using model::SafetensorsFile;
using test::keys_with;
using test::max_abs;

namespace {

// The conformance Inception weights: formula conv file (generated into the scratch folder) + BN file.
std::vector<std::filesystem::path> conformance_inception_files(const std::filesystem::path& conf, test::FormulaWeightsReport* report) {
  // Per process: several test cases call this, and ctest runs them in parallel.
  const auto dir = test::scratch_dir("inception_formula." + std::to_string(::getpid()));
  const auto formula = dir / "inception_formula_conv.safetensors";
  const test::FormulaWeightsReport r = test::write_formula_weights(conf / "fid" / "inception_state_dict_keys.json", formula);
  if (report) *report = r;
  return {formula, conf / "fid" / "inception_fid_bn.safetensors"};
}

void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

TEST_CASE("inception_fid: formula weights match the keys file's sha256 and load strictly by pytorch-fid names") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  test::FormulaWeightsReport report;
  const auto files = conformance_inception_files(conf, &report);
  CHECK(report.tensors == 94);
  CHECK_MESSAGE(report.sha_mismatches == 0, "first mismatch: " << report.first_mismatch);
  CHECK_NOTHROW(metrics::InceptionFid::load(files, c10::Device(c10::kCPU)));
  // Only the BN file: the 94 conv weights are reported missing in one message.
  CHECK_THROWS_WITH_AS(metrics::InceptionFid::load({files[1]}, c10::Device(c10::kCPU)),
                       doctest::Contains("94 missing keys: Conv2d_1a_3x3.conv.weight"), ModelError);
}

TEST_CASE("inception_fid: pool3 from the reference's resized inputs within 2e-3 of pool3_f64") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  const auto net = metrics::InceptionFid::load(conformance_inception_files(conf, nullptr), c10::Device(c10::kCPU));
  const SafetensorsFile inputs = SafetensorsFile::open(conf / "fid" / "inception_intermediates_f32.safetensors");
  const SafetensorsFile expected = SafetensorsFile::open(conf / "fid" / "inception_pool3_expected.safetensors");
  const std::vector<std::string> keys = keys_with(inputs, "/input_resized_normalized");
  CHECK(keys.size() >= 1);
  for (const std::string& key : keys) {
    CAPTURE(key);
    const at::Tensor x = inputs.tensor(key + "/input_resized_normalized").unsqueeze(0);
    const at::Tensor pool3 = net.pool3(x);
    REQUIRE((pool3.sizes() == at::IntArrayRef({1, 2048})));
    const double err = max_abs(pool3, expected.tensor(key + "/pool3_f64"));
    MESSAGE(key << ": max |pool3 - pool3_f64| = " << err << " (tolerance 2e-3)");
    CHECK(err <= 2e-3);
  }
}

TEST_CASE("clip_vision: image_embeds from the reference pixel_values within 1e-5 of image_embeds_f64") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  // The fixture has no config.json: write both accepted forms (full CLIPConfig with nested vision_config and
  // top-level projection_dim; a vision-only config) and check they build the same tower.
  const auto dir = test::scratch_dir("clip_config");
  std::ifstream expected_json(conf / "cmmd" / "expected.json");
  const nlohmann::json vision = nlohmann::json::parse(expected_json).at("clip").at("config");
  nlohmann::json vision_without_projection = vision;
  vision_without_projection.erase("projection_dim");
  const nlohmann::json full = {{"projection_dim", vision.at("projection_dim")},
                               {"vision_config", vision_without_projection},
                               {"text_config", {{"hidden_size", 16}}}};
  write_text(dir / "full.json", full.dump());
  write_text(dir / "vision.json", vision.dump());
  const auto weights = conf / "cmmd" / "clip_vision_tiny_random_weights.safetensors";
  const SafetensorsFile expected = SafetensorsFile::open(conf / "cmmd" / "clip_expected.safetensors");
  const std::vector<std::string> keys = keys_with(expected, "/clip_processor/pixel_values_f32");
  REQUIRE(keys.size() >= 1);
  const std::string key = keys.front();
  CAPTURE(key);
  const at::Tensor pixels = expected.tensor(key + "/clip_processor/pixel_values_f32").unsqueeze(0);
  for (const std::string config : {"full.json", "vision.json"}) {
    CAPTURE(config);
    const auto clip = metrics::ClipVision::load(dir / config, weights, c10::Device(c10::kCPU));
    CHECK(clip.config().hidden_size == vision.at("hidden_size").get<int64_t>());
    CHECK(clip.config().projection_dim == vision.at("projection_dim").get<int64_t>());
    const at::Tensor embeds = clip.image_embeds(pixels);
    const double err = max_abs(embeds, expected.tensor(key + "/clip_processor/image_embeds_f64"));
    MESSAGE(config << ": max |image_embeds - f64| = " << err << " (tolerance 1e-5)");
    CHECK(err <= 1e-5);
    for (const auto& [name, value] : clip.hidden_states(pixels)) {
      CAPTURE(name);
      const at::Tensor ref = expected.tensor(key + "/clip_processor/hidden_f64_as_f32/" + name);
      // Hidden states are up to ~10 in magnitude; float32 vs the float64 reference.
      CHECK(max_abs(value[0], ref) <= 1e-4);
    }
  }
}

TEST_CASE("lpips_net: AlexNet taps match the reference trunk's intermediates (float32)") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  const auto net = metrics::LpipsNet::load(metrics::LpipsTrunk::Alex, {conf / "lpips" / "lpips_alex_v0.1_weights.safetensors"},
                                           c10::Device(c10::kCPU));
  const SafetensorsFile f = SafetensorsFile::open(conf / "lpips" / "alex_trunk_intermediates_f32.safetensors");
  // The fixture gives the input after the scaling layer; undo it to get the [-1,1] input.
  const at::Tensor shift = at::tensor({-0.030f, -0.088f, -0.188f}).view({3, 1, 1});
  const at::Tensor scale = at::tensor({0.458f, 0.448f, 0.450f}).view({3, 1, 1});
  const std::vector<std::string> keys = keys_with(f, "/input_scaled");
  REQUIRE(keys.size() == 1);
  const std::string key = keys.front();
  CAPTURE(key);
  const at::Tensor x = (f.tensor(key + "/input_scaled") * scale + shift).unsqueeze(0);
  const std::vector<at::Tensor> taps = net.taps_from_signed(x);
  REQUIRE(taps.size() == 5);
  for (int k = 0; k < 5; ++k) {
    CAPTURE(k);
    const at::Tensor ref = f.tensor(key + "/relu" + std::to_string(k + 1));
    const double rel = max_abs(taps[k][0], ref) / ref.abs().max().item<double>();
    CHECK(rel <= 1e-5);  // the un-scaling round trip costs ~1 ulp of the input
  }
  // Identical inputs give exactly 0, as the reference (p09).
  const at::Tensor img = at::rand({2, 3, 40, 45});
  CHECK(net.forward(img, img).abs().max().item<double>() == 0.0);
}

TEST_CASE("networks: batched forward equals one-by-one, and CUDA equals CPU where a GPU is present") {
  const c10::Device cpu(c10::kCPU);
  at::manual_seed(11);
  const at::Tensor images = at::rand({3, 3, 64, 80});
  const auto lpips = metrics::LpipsNet::random(metrics::LpipsTrunk::Vgg, cpu, 1);
  const at::Tensor d = lpips.forward(images, images.flip(3));
  CHECK((d.sizes() == at::IntArrayRef({3})));
  CHECK(max_abs(lpips.forward(images.slice(0, 1, 2), images.flip(3).slice(0, 1, 2)), d.slice(0, 1, 2)) < 1e-6);
  metrics::ClipVisionConfig tiny;
  tiny.hidden_size = 32;
  tiny.intermediate_size = 64;
  tiny.num_hidden_layers = 2;
  tiny.num_attention_heads = 2;
  tiny.patch_size = 14;
  tiny.image_size = 56;
  tiny.projection_dim = 8;
  const auto clip = metrics::ClipVision::random(tiny, cpu, 2);
  for (auto mode : {metrics::ClipPreprocess::CmmdCenterSquare, metrics::ClipPreprocess::ClipProcessor}) {
    const at::Tensor e = clip.forward(images, mode, 2);
    CHECK((e.sizes() == at::IntArrayRef({3, 8})));
    CHECK(max_abs(clip.forward(images.slice(0, 2, 3), mode), e.slice(0, 2, 3)) < 1e-5);
  }
  if (!at::hasCUDA()) {
    MESSAGE("SKIPPED (CUDA part): no CUDA device");
    return;
  }
  const c10::Device cuda(c10::kCUDA);
  CHECK(max_abs(metrics::LpipsNet::random(metrics::LpipsTrunk::Alex, cuda, 3).forward(images, images.flip(2)),
                metrics::LpipsNet::random(metrics::LpipsTrunk::Alex, cpu, 3).forward(images, images.flip(2))) < 1e-6);
  CHECK(max_abs(metrics::ClipVision::random(tiny, cuda, 2).forward(images), clip.forward(images)) < 1e-4);
  const auto inc_cpu = metrics::InceptionFid::random(cpu, 4), inc_cuda = metrics::InceptionFid::random(cuda, 4);
  for (auto mode : {metrics::FidPreprocess::PytorchFid, metrics::FidPreprocess::CleanFid, metrics::FidPreprocess::Torchmetrics}) {
    CAPTURE(metrics::to_string(mode));
    const at::Tensor a = inc_cpu.forward(images, mode), b = inc_cuda.forward(images, mode);
    CHECK(max_abs(a, b) <= 1e-3 * std::max(1.0, a.abs().max().item<double>()));
  }
}
