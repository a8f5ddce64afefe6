// The feature networks end to end, from the conformance PNGs (decoded by harness::read_image) through each
// reference preprocessing to the features: FID Inception pool3 (pytorch-fid), LPIPS alex v0.1 distances, tiny
// CLIP image embeddings (CMMD and CLIPImageProcessor preprocessing), and the PIL bicubic bytes on the way.
// Pictures, weights and expectations come from the fixture set; tolerances are the set README's (float32 against
// the float64 reference).
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "harness/image_io.h"
#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "metrics/networks/lpips_net.h"
#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"
#include "tests/network_weights_dir.h"

using namespace osor;
using model::SafetensorsFile;
using test::keys_with;
using test::max_abs;
using test::read_fixture_json;
namespace tolerance = test::readme_tolerance;

namespace {

at::Tensor read_rgb(const std::filesystem::path& conf, const std::string& relative) {
  return harness::read_image(conf / relative).rgb;
}

at::Tensor to_u8(const at::Tensor& rgb01) { return rgb01.mul(255).round().to(at::kByte); }

}  // namespace

TEST_CASE("conformance: fid/inception_pool3_expected pool3 from the PNGs (pytorch-fid preprocessing) within 2e-3 of pool3_f64") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_pool3_expected.safetensors");
  const auto net = test::conformance_inception(conf);
  const SafetensorsFile expected = SafetensorsFile::open(conf / "fid" / "inception_pool3_expected.safetensors");
  const SafetensorsFile inter = SafetensorsFile::open(conf / "fid" / "inception_intermediates_f32.safetensors");
  const nlohmann::json cases = read_fixture_json(conf / "fid" / "expected.json").at("inception").at("cases");
  REQUIRE(!cases.empty());
  std::map<std::string, std::string> image_of;  // key → picture, for the debug taps below
  double worst = 0;
  for (const auto& c : cases) {
    const std::string key = c.at("key");
    CAPTURE(key);
    image_of[key] = c.at("image").get<std::string>();
    const at::Tensor img = read_rgb(conf, image_of[key]);
    const at::Tensor pool3 = net.forward(img);
    const double err = max_abs(pool3, expected.tensor(key + "/pool3_f64"));
    MESSAGE(key << ": max |pool3 - pool3_f64| = " << err << " (tolerance " << tolerance::kInceptionPool3
                << "; reference f32 spread " << c.at("max_abs_f32_vs_f64").get<double>() << ")");
    CHECK(err <= tolerance::kInceptionPool3);
    worst = std::max(worst, err);
    if (inter.contains(key + "/input_resized_normalized")) {
      // The same ATen bilinear kernel as torch: float32 coordinates, so this is exact up to summation order.
      const double e = max_abs(net.preprocess(img)[0], inter.tensor(key + "/input_resized_normalized"));
      MESSAGE(key << ": max |resized input - reference| = " << e);
      CHECK(e <= 1e-5);
    }
  }
  // Debug taps (README 2b: of a 299x299 picture, no resize): float32 against float32, relative to each tensor's
  // maximum.
  const std::vector<std::string> tap_keys = keys_with(inter, "/block0_out");
  REQUIRE(tap_keys.size() >= 1);
  for (const std::string& tap_key : tap_keys) {
    CAPTURE(tap_key);
    REQUIRE_MESSAGE(image_of.count(tap_key) == 1, "no picture for " << tap_key << " in fid/expected.json");
    for (const auto& [name, value] : net.intermediates(net.preprocess(read_rgb(conf, image_of[tap_key])))) {
      CAPTURE(name);
      const at::Tensor ref = inter.tensor(tap_key + "/" + name);
      const double rel = max_abs(value[0], ref) / ref.abs().max().item<double>();
      MESSAGE(tap_key << " " << name << ": max error / max value = " << rel);
      CHECK(rel <= 1e-4);
    }
  }
  MESSAGE("worst pool3 error " << worst);
}

TEST_CASE("conformance: lpips/expected LPIPS alex v0.1 on every pair within 1e-6 of lpips_f64") {
  OSOR_REQUIRE_CONFORMANCE(conf, "lpips/expected.json");
  const auto net = test::conformance_lpips_alex(conf);
  double worst = 0;
  int n = 0;
  const nlohmann::json lpips_expected = read_fixture_json(conf / "lpips" / "expected.json");
  for (const auto& c : lpips_expected.at("cases")) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const at::Tensor ref = read_rgb(conf, c.at("ref").get<std::string>());
    const at::Tensor pred = read_rgb(conf, c.at("pred").get<std::string>());
    // forward(in0=ref, in1=pred) as the reference; uint8 input takes im2tensor's exact route.
    const double value = net.forward(to_u8(ref), to_u8(pred)).item<double>();
    const double expected = c.at("lpips_f64");
    const double err = std::abs(value - expected);
    CHECK(err <= tolerance::kLpipsFloat32);
    // [0,1] floats, normalize=True
    CHECK(std::abs(net.forward(ref, pred).item<double>() - expected) <= tolerance::kLpipsFloat32);
    worst = std::max(worst, err);
    ++n;
  }
  MESSAGE(n << " pairs, worst |lpips - lpips_f64| = " << worst << " (tolerance " << tolerance::kLpipsFloat32 << ")");
  CHECK(n >= 1);
}

TEST_CASE("conformance: cmmd/clip_expected PIL bicubic bytes, pixel_values and tiny-CLIP image_embeds (both preprocessings) within 1e-5") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cmmd/clip_expected.safetensors");
  const auto clip = test::conformance_clip(conf);
  const SafetensorsFile expected = SafetensorsFile::open(conf / "cmmd" / "clip_expected.safetensors");
  const nlohmann::json clip_json = read_fixture_json(conf / "cmmd" / "expected.json").at("clip");
  std::map<std::string, std::string> image_of;  // image key → picture
  for (const auto& c : clip_json.at("cases")) image_of[c.at("key").get<std::string>()] = c.at("image").get<std::string>();
  auto picture = [&](const std::string& key) {
    REQUIRE_MESSAGE(image_of.count(key) == 1, "no picture for " << key << " in cmmd/expected.json clip.cases");
    return read_rgb(conf, image_of.at(key));
  };

  // PIL bicubic first: exact bytes (±1 LSB would mean a float implementation). The output sizes are computed
  // here from the rules (shortest edge to the tower's image_size S, long edge truncated; centre square to S),
  // not read from the fixture.
  const int64_t s = clip.config().image_size;
  const auto hwc = [](const at::Tensor& t) { return t[0].permute({1, 2, 0}); };
  int pil_checks = 0;
  for (const std::string& key : keys_with(expected, "/clip_processor/pil_resized_u8")) {
    CAPTURE(key);
    const at::Tensor u8 = to_u8(picture(key));
    const int64_t h = u8.size(2), w = u8.size(3), shorter = std::min(h, w), longer = std::max(h, w);
    const int64_t new_long = static_cast<int64_t>(static_cast<double>(s * longer) / static_cast<double>(shorter));
    const at::Tensor got = metrics::pil_resize_u8(u8, h <= w ? s : new_long, h <= w ? new_long : s, metrics::PilFilter::Bicubic);
    CHECK(at::equal(hwc(got), expected.tensor(key + "/clip_processor/pil_resized_u8")));
    ++pil_checks;
  }
  for (const std::string& key : keys_with(expected, "/cmmd_io_util/pil_resized_u8")) {
    CAPTURE(key);
    const at::Tensor u8 = to_u8(picture(key));
    const int64_t h = u8.size(2), w = u8.size(3), l = std::min(h, w);
    const at::Tensor square = u8.slice(2, (h - l) / 2, (h - l) / 2 + l).slice(3, (w - l) / 2, (w - l) / 2 + l);
    CHECK(at::equal(hwc(metrics::pil_resize_u8(square, s, s, metrics::PilFilter::Bicubic)),
                    expected.tensor(key + "/cmmd_io_util/pil_resized_u8")));
    ++pil_checks;
  }
  MESSAGE(pil_checks << " PIL bicubic outputs compared byte for byte");
  CHECK(pil_checks >= 1);
  for (const std::string& key : keys_with(expected, "/clip_processor/pixel_values_f32")) {
    const at::Tensor pv = clip.preprocess(picture(key), metrics::ClipPreprocess::ClipProcessor);
    const double e = max_abs(pv[0], expected.tensor(key + "/clip_processor/pixel_values_f32"));
    MESSAGE(key << " pixel_values max error " << e);
    CHECK(e <= 1e-6);
  }
  double worst = 0;
  const std::vector<std::string> keys = keys_with(expected, "/clip_processor/image_embeds_f64");
  CHECK(keys.size() >= 1);
  for (const std::string& key : keys) {
    const at::Tensor img = picture(key);
    for (auto [mode, name] : {std::pair{metrics::ClipPreprocess::ClipProcessor, "clip_processor"},
                              std::pair{metrics::ClipPreprocess::CmmdCenterSquare, "cmmd_io_util"}}) {
      CAPTURE(key);
      CAPTURE(name);
      const at::Tensor embeds = clip.forward(img, mode);
      const double err = max_abs(embeds, expected.tensor(key + "/" + name + "/image_embeds_f64"));
      CHECK(err <= tolerance::kClipEmbeds);
      worst = std::max(worst, err);
    }
  }
  MESSAGE("worst |image_embeds - image_embeds_f64| = " << worst << " (tolerance " << tolerance::kClipEmbeds << ")");

  // End to end over the pictures the fixture lists, in its order (CMMD preprocessing), L2-normalised as CMMD
  // does.
  const nlohmann::json& e2e = clip_json.at("cmmd_end_to_end");
  auto normalised_embeds = [&](const nlohmann::json& pictures) {
    std::vector<at::Tensor> rows;
    for (const auto& p : pictures) rows.push_back(clip.forward(read_rgb(conf, p.get<std::string>())));
    REQUIRE(!rows.empty());
    const at::Tensor e = at::cat(rows);
    return e / e.norm(2, {1}, true);
  };
  const double e_ref = max_abs(normalised_embeds(e2e.at("images_ref")), expected.tensor("cmmd_e2e/ref_embeds_l2norm_f64"));
  const double e_pred = max_abs(normalised_embeds(e2e.at("images_pred")), expected.tensor("cmmd_e2e/pred_embeds_l2norm_f64"));
  MESSAGE("cmmd_e2e normalised embeddings: max error ref " << e_ref << ", pred " << e_pred << " (tolerance 5e-6)");
  CHECK(e_ref <= 5e-6);
  CHECK(e_pred <= 5e-6);
}
