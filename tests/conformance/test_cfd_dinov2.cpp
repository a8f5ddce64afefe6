// Fixture cfd/dinov2 (README §2): the tiny HF Dinov2Model and the slow BitImageProcessor path exactly as CFD calls
// it — Pillow's 224×224 bicubic resize, the processor's shortest-edge resize and centre crop (uint8, exact), the
// pixel values (exact) and last_hidden_state (float32 vs the float64 reference, the fixture's atol). Everything is
// read from the fixture set; the cases, sizes and tolerances come from dinov2.json.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "harness/image_io.h"
#include "metrics/networks/bit_image_processor.h"
#include "metrics/networks/dinov2.h"
#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"

using namespace osor;
using model::SafetensorsFile;
using test::max_abs;
using test::read_fixture_json;

namespace {

// HWC uint8 (the fixture's layout) ⇄ CHW.
at::Tensor chw(const at::Tensor& hwc) { return hwc.permute({2, 0, 1}).contiguous(); }

// The picture of a case: a fixture tensor ("b.image") or a PNG path relative to the cfd folder.
at::Tensor case_image(const std::filesystem::path& dir, const SafetensorsFile& io, const std::string& image) {
  if (io.contains(image)) return chw(io.tensor(image));
  return harness::read_image(dir / image).rgb[0].mul(255).round().to(at::kByte);
}

}  // namespace

TEST_CASE("conformance: cfd/dinov2 Pillow resizes, BitImageProcessor bytes and pixel values exact, last_hidden_state within atol") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/dinov2.json");
  const std::filesystem::path dir = conf / "cfd";
  const nlohmann::json j = read_fixture_json(dir / "dinov2.json");
  const SafetensorsFile io = SafetensorsFile::open(dir / "dinov2.io.safetensors");
  const auto config = metrics::Dinov2Config::from_json_text(j.at("config").dump(), "cfd/dinov2.json:config");
  const auto proc = metrics::BitProcessorConfig::from_json_text(j.at("preprocessor_config").dump(),
                                                                "cfd/dinov2.json:preprocessor_config");
  const auto net = metrics::Dinov2::load(config, dir / j.at("weights").at("file").get<std::string>(), c10::kCPU);
  const double atol = j.at("tolerance").at("last_hidden_state").at("atol").get<double>();
  REQUIRE(!j.at("cases").empty());
  for (const auto& [name, c] : j.at("cases").items()) {
    CAPTURE(name);
    at::Tensor image = case_image(dir, io, c.at("image").get<std::string>());
    if (io.contains(name + ".image_224")) {  // the CFD path: PIL's default (bicubic) resize to 224×224 first
      const at::Tensor e = chw(io.tensor(name + ".image_224"));
      image = metrics::pil_resize_u8(image, e.size(1), e.size(2), metrics::PilFilter::Bicubic);
      CHECK(at::equal(image, e));
    }
    const auto steps = metrics::bit_image_processor_steps(image, proc);
    CHECK(at::equal(steps.resized, chw(io.tensor(name + ".proc.resized"))));
    CHECK(at::equal(steps.cropped, chw(io.tensor(name + ".proc.cropped"))));
    if (io.contains(name + ".pixel_values")) CHECK(at::equal(steps.pixel_values, io.tensor(name + ".pixel_values")));
    const at::Tensor out = net.last_hidden_state(steps.pixel_values);
    const at::Tensor expected = io.tensor(name + ".last_hidden_state_f64");
    REQUIRE(out.sizes() == expected.sizes());
    const double err = max_abs(out, expected);
    MESSAGE(name << ": max |last_hidden_state - f64| = " << err << " (atol " << atol << ")");
    CHECK(err <= atol);
    if (name == j.at("cases").begin().key() && io.contains(name + ".trace.embeddings")) {
      for (const auto& [tap, value] : net.hidden_states(steps.pixel_values)) {
        if (!io.contains(name + ".trace." + tap)) continue;
        CAPTURE(tap);
        CHECK(max_abs(value, io.tensor(name + ".trace." + tap)) <= atol);
      }
    }
  }
}

TEST_CASE("conformance: cfd/dinov2 interpolated position embeddings, by size= (current) and by scale factor (legacy)") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/dinov2.json");
  const std::filesystem::path dir = conf / "cfd";
  const nlohmann::json j = read_fixture_json(dir / "dinov2.json");
  const SafetensorsFile io = SafetensorsFile::open(dir / "dinov2.io.safetensors");
  const auto config = metrics::Dinov2Config::from_json_text(j.at("config").dump(), "cfd/dinov2.json:config");
  auto net = metrics::Dinov2::load(config, dir / j.at("weights").at("file").get<std::string>(), c10::kCPU);
  const int64_t s = j.at("preprocessor_config").at("crop_size").at("height").get<int64_t>();
  const at::Tensor current = io.tensor("position_embeddings_" + std::to_string(s));
  // "values are exact float32": the same float32 bicubic kernel, up to summation order.
  const double err = max_abs(net.position_embeddings_for(s, s), current);
  MESSAGE("max |size= table - reference| = " << err);
  CHECK(err <= 1e-6);
  const std::string legacy_name = "position_embeddings_" + std::to_string(s) + "_legacy_scale_factor";
  if (io.contains(legacy_name)) {
    net.set_position_interpolation(metrics::Dinov2PositionInterpolation::LegacyScaleFactor);
    // A diagnostic table: LibTorch 2.x's bicubic kernel with a scale factor rounds its source coordinates
    // differently from 1.13's (a few float32 ulps, 2.7e-6 measured), so it is held to the features' atol.
    const double e = max_abs(net.position_embeddings_for(s, s), io.tensor(legacy_name));
    MESSAGE("max |legacy table - reference| = " << e);
    CHECK(e <= j.at("tolerance").at("last_hidden_state").at("atol").get<double>());
    CHECK(max_abs(io.tensor(legacy_name), current) > 1e-3);  // the two conventions differ
  }
}
