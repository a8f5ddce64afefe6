// The feature networks against the conformance fixtures, from inputs the fixtures give as tensors (no image
// decoding, so this file stays OpenCV-free): FID Inception pool3 from the reference's resized inputs, the tiny
// CLIP tower from the reference's pixel_values, the LPIPS AlexNet taps. PNG-to-feature checks are in
// tests/conformance/test_networks_conformance.cpp.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "metrics/networks/lpips_net.h"
#include "model/error.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"
#include "tests/network_weights_dir.h"

using namespace osor;
using model::SafetensorsFile;
using test::keys_with;
using test::max_abs;
using test::readme_tolerance::kClipEmbeds;
using test::readme_tolerance::kInceptionPool3;

namespace {

void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

TEST_CASE("conformance: fid/inception_state_dict_keys formula weights match the keys file's sha256 and load strictly by pytorch-fid names") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_state_dict_keys.json");
  const nlohmann::json keys = test::read_fixture_json(conf / "fid" / "inception_state_dict_keys.json");
  const int formula_count = keys.at("counts").at("formula").get<int>();
  std::string first_formula;
  for (const auto& t : keys.at("tensors"))
    if (t.at("source") == "formula") {
      first_formula = t.at("name").get<std::string>();
      break;
    }
  REQUIRE(!first_formula.empty());
  test::FormulaWeightsReport report;
  const auto files = test::inception_weight_files(conf, &report);
  CHECK(report.tensors == formula_count);
  CHECK_MESSAGE(report.sha_mismatches == 0, "first mismatch: " << report.first_mismatch);
  CHECK_NOTHROW(metrics::InceptionFid::load(files, c10::Device(c10::kCPU)));
  // Only the BN file: the formula's conv weights are reported missing in one message.
  const std::string missing = std::to_string(formula_count) + " missing keys: " + first_formula;
  CHECK_THROWS_WITH_AS(metrics::InceptionFid::load({files[1]}, c10::Device(c10::kCPU)), doctest::Contains(missing.c_str()),
                       ModelError);
}

TEST_CASE("conformance: fid/inception_pool3_expected pool3 from the reference's resized inputs within 2e-3 of pool3_f64") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_pool3_expected.safetensors");
  const auto net = test::conformance_inception(conf);
  const SafetensorsFile inputs = SafetensorsFile::open(conf / "fid" / "inception_intermediates_f32.safetensors");
  const SafetensorsFile expected = SafetensorsFile::open(conf / "fid" / "inception_pool3_expected.safetensors");
  const std::vector<std::string> keys = keys_with(inputs, "/input_resized_normalized");
  CHECK(keys.size() >= 1);
  for (const std::string& key : keys) {
    CAPTURE(key);
    const at::Tensor x = inputs.tensor(key + "/input_resized_normalized").unsqueeze(0);
    const at::Tensor pool3 = net.pool3(x);
    REQUIRE((pool3.sizes() == at::IntArrayRef({1, metrics::InceptionFid::kFeatureDim})));
    const double err = max_abs(pool3, expected.tensor(key + "/pool3_f64"));
    MESSAGE(key << ": max |pool3 - pool3_f64| = " << err << " (tolerance " << kInceptionPool3 << ")");
    CHECK(err <= kInceptionPool3);
  }
}

TEST_CASE("conformance: cmmd/clip_expected image_embeds from the reference pixel_values within 1e-5 of image_embeds_f64") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cmmd/clip_expected.safetensors");
  // The fixture has no config.json: write both accepted forms (full CLIPConfig with nested vision_config and
  // top-level projection_dim; a vision-only config) and check they build the same tower.
  const auto dir = test::process_scratch_dir("clip_config");
  const nlohmann::json vision = test::clip_vision_config(conf);
  nlohmann::json full = test::clip_full_config(vision);
  full["text_config"] = {{"hidden_size", 16}};
  write_text(dir / "full.json", full.dump());
  write_text(dir / "vision.json", vision.dump());
  const auto weights = test::clip_weights_file(conf);
  const SafetensorsFile expected = SafetensorsFile::open(conf / "cmmd" / "clip_expected.safetensors");
  const std::vector<std::string> keys = keys_with(expected, "/clip_processor/pixel_values_f32");
  REQUIRE(keys.size() >= 1);
  for (const std::string config : {"full.json", "vision.json"}) {
    CAPTURE(config);
    const auto clip = metrics::ClipVision::load(dir / config, weights, c10::Device(c10::kCPU));
    CHECK(clip.config().hidden_size == vision.at("hidden_size").get<int64_t>());
    CHECK(clip.config().projection_dim == vision.at("projection_dim").get<int64_t>());
    int hidden_pictures = 0;
    for (const std::string& key : keys) {
      CAPTURE(key);
      const at::Tensor pixels = expected.tensor(key + "/clip_processor/pixel_values_f32").unsqueeze(0);
      const at::Tensor embeds = clip.image_embeds(pixels);
      const double err = max_abs(embeds, expected.tensor(key + "/clip_processor/image_embeds_f64"));
      MESSAGE(config << " " << key << ": max |image_embeds - f64| = " << err << " (tolerance " << kClipEmbeds << ")");
      CHECK(err <= kClipEmbeds);
      // The float64 hidden states, where the fixture stores them (README 4b: for one picture): every one of ours
      // is compared, and every stored one has a counterpart here.
      const std::string prefix = key + "/clip_processor/hidden_f64_as_f32/";
      size_t stored = 0;
      for (const auto& name : expected.names()) stored += name.rfind(prefix, 0) == 0 ? 1 : 0;
      if (stored == 0) continue;
      ++hidden_pictures;
      const auto hidden = clip.hidden_states(pixels);
      CHECK(hidden.size() == stored);
      for (const auto& [name, value] : hidden) {
        CAPTURE(name);
        // Hidden states are up to ~10 in magnitude; float32 vs the float64 reference.
        CHECK(max_abs(value[0], expected.tensor(prefix + name)) <= 1e-4);
      }
    }
    CHECK(hidden_pictures >= 1);
  }
}

TEST_CASE("conformance: lpips/alex_trunk_intermediates_f32 AlexNet taps match the reference trunk's intermediates (float32)") {
  OSOR_REQUIRE_CONFORMANCE(conf, "lpips/alex_trunk_intermediates_f32.safetensors");
  const auto net = test::conformance_lpips_alex(conf);
  const SafetensorsFile f = SafetensorsFile::open(conf / "lpips" / "alex_trunk_intermediates_f32.safetensors");
  // The fixture gives the input after the scaling layer; undo it to get the [-1,1] input. Shift and scale are
  // the LPIPS ScalingLayer's float32 constants (README 3), not fixture data.
  const at::Tensor shift = at::tensor({-0.030f, -0.088f, -0.188f}).view({3, 1, 1});
  const at::Tensor scale = at::tensor({0.458f, 0.448f, 0.450f}).view({3, 1, 1});
  const std::vector<std::string> keys = keys_with(f, "/input_scaled");
  REQUIRE(keys.size() >= 1);
  for (const std::string& key : keys) {
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
