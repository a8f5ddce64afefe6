// The feature networks end to end, from the conformance PNGs (decoded by harness::read_image) through each
// reference preprocessing to the features: FID Inception pool3 (pytorch-fid), LPIPS alex v0.1 distances, tiny
// CLIP image embeddings (CMMD and CLIPImageProcessor preprocessing), and the PIL bicubic bytes on the way.
// Tolerances are the conformance README's (float32 against the float64 reference).
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "harness/image_io.h"
#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "metrics/networks/lpips_net.h"
#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "tests/metrics/inception_formula_weights.h"
#include "tests/fixture_tensors.h"
#include "tests/test_paths.h"

using namespace osor;
using model::SafetensorsFile;
using test::keys_with;
using test::max_abs;

namespace {

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

at::Tensor image(const std::filesystem::path& conf, const std::string& key) {
  return harness::read_image(conf / "images" / (key + ".png")).rgb;
}

at::Tensor to_u8(const at::Tensor& rgb01) { return rgb01.mul(255).round().to(at::kByte); }

}  // namespace

TEST_CASE("conformance: FID Inception pool3 from the PNGs (pytorch-fid preprocessing) within 2e-3 of pool3_f64") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  const auto dir = test::scratch_dir("inception_formula_png");
  test::write_formula_weights(conf / "fid" / "inception_state_dict_keys.json", dir / "conv.safetensors");
  const auto net = metrics::InceptionFid::load({dir / "conv.safetensors", conf / "fid" / "inception_fid_bn.safetensors"},
                                               c10::Device(c10::kCPU));
  const SafetensorsFile expected = SafetensorsFile::open(conf / "fid" / "inception_pool3_expected.safetensors");
  const SafetensorsFile inter = SafetensorsFile::open(conf / "fid" / "inception_intermediates_f32.safetensors");
  const nlohmann::json cases = read_json(conf / "fid" / "expected.json").at("inception").at("cases");
  double worst = 0;
  for (const auto& c : cases) {
    const std::string key = c.at("key");
    CAPTURE(key);
    const at::Tensor img = image(conf, key);
    const at::Tensor pool3 = net.forward(img);
    const double err = max_abs(pool3, expected.tensor(key + "/pool3_f64"));
    MESSAGE(key << ": max |pool3 - pool3_f64| = " << err << " (tolerance 2e-3; reference f32 spread "
                << c.at("max_abs_f32_vs_f64").get<double>() << ")");
    CHECK(err <= 2e-3);
    worst = std::max(worst, err);
    if (inter.contains(key + "/input_resized_normalized")) {
      // The same ATen bilinear kernel as torch: float32 coordinates, so this is exact up to summation order.
      const double e = max_abs(net.preprocess(img)[0], inter.tensor(key + "/input_resized_normalized"));
      MESSAGE(key << ": max |resized input - reference| = " << e);
      CHECK(e <= 1e-5);
    }
  }
  // Debug taps of p12_ref (299x299, no resize): float32 against float32, relative to each tensor's maximum.
  const std::vector<std::string> tap_keys = keys_with(inter, "/block0_out");
  REQUIRE(tap_keys.size() == 1);
  const std::string tap_key = tap_keys.front();
  for (const auto& [name, value] : net.intermediates(net.preprocess(image(conf, tap_key)))) {
    CAPTURE(name);
    const at::Tensor ref = inter.tensor(tap_key + "/" + name);
    const double rel = max_abs(value[0], ref) / ref.abs().max().item<double>();
    MESSAGE(tap_key << " " << name << ": max error / max value = " << rel);
    CHECK(rel <= 1e-4);
  }
  MESSAGE("worst pool3 error " << worst);
}

TEST_CASE("conformance: LPIPS alex v0.1 on every pair within 1e-6 of lpips_f64") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  const auto net = metrics::LpipsNet::load(metrics::LpipsTrunk::Alex, {conf / "lpips" / "lpips_alex_v0.1_weights.safetensors"},
                                           c10::Device(c10::kCPU));
  double worst = 0;
  int n = 0;
  const nlohmann::json lpips_expected = read_json(conf / "lpips" / "expected.json");
  for (const auto& c : lpips_expected.at("cases")) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const at::Tensor ref = harness::read_image(conf / c.at("ref").get<std::string>()).rgb;
    const at::Tensor pred = harness::read_image(conf / c.at("pred").get<std::string>()).rgb;
    // forward(in0=ref, in1=pred) as the reference; uint8 input takes im2tensor's exact route.
    const double value = net.forward(to_u8(ref), to_u8(pred)).item<double>();
    const double expected = c.at("lpips_f64");
    const double err = std::abs(value - expected);
    CHECK(err <= 1e-6);
    CHECK(std::abs(net.forward(ref, pred).item<double>() - expected) <= 1e-6);  // [0,1] floats, normalize=True
    worst = std::max(worst, err);
    ++n;
  }
  MESSAGE(n << " pairs, worst |lpips - lpips_f64| = " << worst << " (tolerance 1e-6)");
  CHECK(n >= 1);
}

TEST_CASE("conformance: PIL bicubic bytes, pixel_values and tiny-CLIP image_embeds (both preprocessings) within 1e-5") {
  const auto conf = test::shared_conformance_dir();
  if (conf.empty()) {
    MESSAGE("SKIPPED: ../shared/conformance absent (set OSOR_CONFORMANCE_DIR)");
    return;
  }
  const auto dir = test::scratch_dir("clip_png");
  // The fixture ships no config.json; its expected.json gives the tiny vision config. Write it as the full
  // CLIPConfig layout (nested vision_config, top-level projection_dim), as the HF repository has it.
  nlohmann::json vision = read_json(conf / "cmmd" / "expected.json").at("clip").at("config");
  nlohmann::json full = {{"projection_dim", vision.at("projection_dim")}};
  vision.erase("projection_dim");
  full["vision_config"] = vision;
  std::ofstream(dir / "config.json") << full.dump();
  const auto clip = metrics::ClipVision::load(dir / "config.json", conf / "cmmd" / "clip_vision_tiny_random_weights.safetensors",
                                              c10::Device(c10::kCPU));
  const SafetensorsFile expected = SafetensorsFile::open(conf / "cmmd" / "clip_expected.safetensors");

  // PIL bicubic first: exact bytes (±1 LSB would mean a float implementation). The output sizes are computed
  // here from the rules (shortest edge to 336, long edge truncated; centre square), not read from the fixture.
  const auto hwc = [](const at::Tensor& t) { return t[0].permute({1, 2, 0}); };
  int pil_checks = 0;
  for (const std::string& key : keys_with(expected, "/clip_processor/pil_resized_u8")) {
    CAPTURE(key);
    const at::Tensor u8 = to_u8(image(conf, key));
    const int64_t h = u8.size(2), w = u8.size(3), shorter = std::min(h, w), longer = std::max(h, w);
    const int64_t new_long = static_cast<int64_t>(static_cast<double>(336 * longer) / static_cast<double>(shorter));
    const at::Tensor got = metrics::pil_resize_u8(u8, h <= w ? 336 : new_long, h <= w ? new_long : 336, metrics::PilFilter::Bicubic);
    CHECK(at::equal(hwc(got), expected.tensor(key + "/clip_processor/pil_resized_u8")));
    ++pil_checks;
  }
  for (const std::string& key : keys_with(expected, "/cmmd_io_util/pil_resized_u8")) {
    CAPTURE(key);
    const at::Tensor u8 = to_u8(image(conf, key));
    const int64_t h = u8.size(2), w = u8.size(3), l = std::min(h, w);
    const at::Tensor square = u8.slice(2, (h - l) / 2, (h - l) / 2 + l).slice(3, (w - l) / 2, (w - l) / 2 + l);
    CHECK(at::equal(hwc(metrics::pil_resize_u8(square, 336, 336, metrics::PilFilter::Bicubic)),
                    expected.tensor(key + "/cmmd_io_util/pil_resized_u8")));
    ++pil_checks;
  }
  MESSAGE(pil_checks << " PIL bicubic outputs compared byte for byte");
  CHECK(pil_checks >= 1);
  for (const std::string& key : keys_with(expected, "/clip_processor/pixel_values_f32")) {
    const at::Tensor pv = clip.preprocess(image(conf, key), metrics::ClipPreprocess::ClipProcessor);
    const double e = max_abs(pv[0], expected.tensor(key + "/clip_processor/pixel_values_f32"));
    MESSAGE(key << " pixel_values max error " << e);
    CHECK(e <= 1e-6);
  }
  double worst = 0;
  const std::vector<std::string> keys = keys_with(expected, "/clip_processor/image_embeds_f64");
  CHECK(keys.size() >= 1);
  for (const std::string& key : keys) {
    const at::Tensor img = image(conf, key);
    for (auto [mode, name] : {std::pair{metrics::ClipPreprocess::ClipProcessor, "clip_processor"},
                              std::pair{metrics::ClipPreprocess::CmmdCenterSquare, "cmmd_io_util"}}) {
      CAPTURE(key);
      CAPTURE(name);
      const at::Tensor embeds = clip.forward(img, mode);
      const double err = max_abs(embeds, expected.tensor(key + "/" + name + "/image_embeds_f64"));
      CHECK(err <= 1e-5);
      worst = std::max(worst, err);
    }
  }
  MESSAGE("worst |image_embeds - image_embeds_f64| = " << worst << " (tolerance 1e-5)");

  // End to end over the 12 pairs (CMMD preprocessing), L2-normalised as CMMD does.
  const nlohmann::json pairs = read_json(conf / "pairs.json");
  const nlohmann::json& list = pairs.is_array() ? pairs : pairs.at("pairs");
  std::vector<at::Tensor> refs, preds;
  for (const auto& p : list) {
    const std::string id = p.at("id");
    refs.push_back(clip.forward(image(conf, id + "_ref")));
    preds.push_back(clip.forward(image(conf, id + "_pred")));
  }
  auto l2 = [](const at::Tensor& e) { return e / e.norm(2, {1}, true); };
  const double e_ref = max_abs(l2(at::cat(refs)), expected.tensor("cmmd_e2e/ref_embeds_l2norm_f64"));
  const double e_pred = max_abs(l2(at::cat(preds)), expected.tensor("cmmd_e2e/pred_embeds_l2norm_f64"));
  MESSAGE("cmmd_e2e normalised embeddings: max error ref " << e_ref << ", pred " << e_pred << " (tolerance 5e-6)");
  CHECK(e_ref <= 5e-6);
  CHECK(e_pred <= 5e-6);
}
