// Fixture cfd/cfd (README §5): CFD on real pictures with fixed SAM records and the tiny DINOv2 of cfd/dinov2.
//  * the geometry (kept/boundary/center lists, ring, adjacency, crop boxes, weights, 224×224 images and masks by
//    sha256, official index arrays, corrected cell weights) exactly;
//  * the algorithm alone, from the stored float32 tokens, against score_from_stored_tokens_f64 (both modes);
//  * the full pipeline (our DINOv2 + processor) against the float64 run: every term, component, picture and the
//    mean over pictures, with the fixture's tolerances.
// Pictures, records, expectations and tolerances all come from the fixture set.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "harness/image_io.h"
#include "harness/sha256.h"
#include "metrics/cfd.h"
#include "metrics/networks/bit_image_processor.h"
#include "metrics/networks/dinov2.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"

using namespace osor;
using model::SafetensorsFile;
using test::read_fixture_json;

namespace {

struct CfdFixture {
  std::filesystem::path dir;
  nlohmann::json json, dinov2_json;
  SafetensorsFile io;
};

std::vector<int64_t> longs(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

at::Tensor picture_u8(const std::filesystem::path& path) {
  return harness::read_image(path).rgb[0].mul(255).round().to(at::kByte).contiguous();
}

std::vector<metrics::MaskRecord> stored_records(const SafetensorsFile& io, const std::string& id, int64_t h, int64_t w) {
  const std::vector<int64_t> counts = longs(io.tensor(id + ".records.rle_counts"));
  const std::vector<int64_t> offsets = longs(io.tensor(id + ".records.rle_offsets"));
  const std::vector<int64_t> areas = longs(io.tensor(id + ".records.area"));
  std::vector<metrics::MaskRecord> records;
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    metrics::MaskRecord r;
    r.segmentation = metrics::rle_to_mask({counts.begin() + offsets[i], counts.begin() + offsets[i + 1]}, h, w);
    r.area = areas.at(i);
    records.push_back(r);
  }
  return records;
}

std::string sha256_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  harness::Sha256 h;
  h.update(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  return h.hex_digest();
}

std::vector<int64_t> json_longs(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

// README 5.5 "exact": every discrete quantity of one component.
void check_geometry(const metrics::CfdComponent& c, const nlohmann::json& e, const SafetensorsFile& io, const std::string& prefix) {
  CHECK(c.pixels == e.at("pixels").get<int64_t>());
  CHECK(std::vector<int64_t>(c.ring_rectangle_lurb.begin(), c.ring_rectangle_lurb.end()) == json_longs(e.at("ring_rectangle_inclusive_lurb")));
  CHECK(c.ring_pixels == e.at("ring_pixels").get<int64_t>());
  CHECK(c.kept_records == json_longs(e.at("kept_records")));
  CHECK(c.boundary == json_longs(e.at("boundary")));
  CHECK(c.center == json_longs(e.at("center")));
  CHECK(c.center_areas == json_longs(e.at("center_areas")));
  REQUIRE(c.terms.size() == e.at("calls").size());
  for (size_t k = 0; k < c.terms.size(); ++k) {
    const metrics::CfdTerm& t = c.terms[k];
    const nlohmann::json& call = e.at("calls")[k];
    CAPTURE(t.name);
    REQUIRE(t.name == call.at("term").get<std::string>());
    const nlohmann::json& off = call.at("official");
    const bool l_masks = off.at("mask1_mode").get<std::string>() == "L";
    CHECK(l_masks == (t.name != "d0"));
    CHECK(sha256_of(metrics::cfd_image_224(t.image1).permute({1, 2, 0})) == off.at("sha256").at("image1_224_u8").get<std::string>());
    CHECK(sha256_of(metrics::cfd_image_224(t.image2).permute({1, 2, 0})) == off.at("sha256").at("image2_224_u8").get<std::string>());
    // The fixture hashes the masks as 8-bit images: a mode "1" mask as 0/255.
    const int scale = l_masks ? 1 : 255;
    CHECK(sha256_of(metrics::official_mask_224(t.mask1, l_masks, false).mul(scale)) == off.at("sha256").at("mask1_224").get<std::string>());
    CHECK(sha256_of(metrics::official_mask_224(t.mask2, l_masks, true).mul(scale)) == off.at("sha256").at("mask2_224").get<std::string>());
    const std::string p = prefix + "." + t.name + ".";
    const auto i1 = metrics::official_index(t.mask1, l_masks, false), i2 = metrics::official_index(t.mask2, l_masks, true);
    CHECK(i1.is_bool == (off.at("index1_dtype").get<std::string>() == "bool"));
    CHECK(i2.is_bool == (off.at("index2_dtype").get<std::string>() == "bool"));
    if (io.contains(p + "official.index1")) {
      CHECK(i1.values == longs(io.tensor(p + "official.index1")));
      CHECK(i2.values == longs(io.tensor(p + "official.index2")));
    }
    if (io.contains(p + "corrected.w1")) {
      CHECK(at::equal(metrics::corrected_cell_weights(t.mask1), io.tensor(p + "corrected.w1")));
      CHECK(at::equal(metrics::corrected_cell_weights(t.mask2), io.tensor(p + "corrected.w2")));
    }
    if (t.name == "d0") continue;
    CHECK(t.center_index == call.at("center_index").get<int64_t>());
    CHECK(t.adjacent_boundaries == json_longs(call.at("adjacent_boundaries")));
    CHECK(t.weight == doctest::Approx(call.at("weight").get<double>()).epsilon(1e-15));
    CHECK(std::vector<int64_t>(t.crop1_xywh.begin(), t.crop1_xywh.end()) == json_longs(call.at("crop_xywh_boundary")));
    CHECK(std::vector<int64_t>(t.crop2_xywh.begin(), t.crop2_xywh.end()) == json_longs(call.at("crop_xywh_center")));
  }
}

CfdFixture open_fixture(const std::filesystem::path& conf) {
  CfdFixture f{conf / "cfd", read_fixture_json(conf / "cfd" / "cfd.json"), read_fixture_json(conf / "cfd" / "dinov2.json"),
               SafetensorsFile::open(conf / "cfd" / "cfd.io.safetensors")};
  return f;
}

// The pictures of the fixture, planned: (id, picture, mask, records, components).
struct PlannedCase {
  std::string id;
  at::Tensor picture, mask;
  std::vector<metrics::MaskRecord> records;
  std::vector<metrics::CfdComponent> components;
};
std::vector<PlannedCase> planned_cases(const CfdFixture& f) {
  std::vector<PlannedCase> out;
  for (const auto& [id, c] : f.json.at("cases").items()) {
    PlannedCase p{id, picture_u8(f.dir / c.at("picture").get<std::string>()),
                  harness::read_mask(f.dir / c.at("mask").get<std::string>())[0][0].gt(0.5), {}, {}};
    p.records = stored_records(f.io, id, p.picture.size(1), p.picture.size(2));
    REQUIRE(static_cast<int64_t>(p.records.size()) == c.at("records").get<int64_t>());
    p.components = metrics::plan_cfd(p.picture, p.mask, p.records);
    out.push_back(std::move(p));
  }
  REQUIRE(!out.empty());
  return out;
}

}  // namespace

TEST_CASE("conformance: cfd/cfd geometry exact: components, SAM mask filter, boundary and center, ring, adjacency, crops, indices, cell weights") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/cfd.json");
  const CfdFixture f = open_fixture(conf);
  for (const PlannedCase& p : planned_cases(f)) {
    CAPTURE(p.id);
    const nlohmann::json& e = f.json.at("cases").at(p.id).at("components");
    REQUIRE(p.components.size() == e.size());
    for (size_t k = 0; k < p.components.size(); ++k) {
      CAPTURE(k);
      check_geometry(p.components[k], e[k], f.io, p.id + ".c" + std::to_string(k));
    }
  }
}

TEST_CASE("conformance: cfd/cfd algorithm from the stored float32 tokens, official and corrected, within the algorithm_only atol") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/cfd.json");
  const CfdFixture f = open_fixture(conf);
  const double atol = f.json.at("tolerance").at("algorithm_only").at("atol").get<double>();
  int64_t compared = 0;
  for (const PlannedCase& p : planned_cases(f)) {
    for (size_t k = 0; k < p.components.size(); ++k) {
      const std::string prefix = p.id + ".c" + std::to_string(k) + ".";
      if (!f.io.contains(prefix + "d0.official.tokens1_f32")) continue;  // tokens are stored for some pictures
      const nlohmann::json& calls = f.json.at("cases").at(p.id).at("components")[k].at("calls");
      for (const metrics::CfdMode mode : {metrics::CfdMode::Official, metrics::CfdMode::Corrected}) {
        const std::string m = metrics::to_string(mode);
        const auto picture = metrics::score_cfd({p.components[k]}, mode, [&](const metrics::CfdTerm& t, int which) {
          const std::string base = prefix + t.name + "." + m + ".tokens";
          // d0 compares the picture with itself: one stored array.
          return f.io.contains(base + std::to_string(which) + "_f32") ? f.io.tensor(base + std::to_string(which) + "_f32")
                                                                    : f.io.tensor(base + "1_f32");
        });
        for (size_t i = 0; i < calls.size(); ++i) {
          const double expected = calls[i].at(m).at("score_from_stored_tokens_f64").get<double>();
          const double err = std::abs(picture.components[0].terms.at(i).distance - expected);
          CAPTURE(p.id);
          CAPTURE(k);
          CAPTURE(m);
          CAPTURE(i);
          CHECK(err <= atol);
          ++compared;
        }
      }
    }
  }
  MESSAGE(compared << " terms compared from stored tokens");
  CHECK(compared > 0);
}

TEST_CASE("conformance: cfd/cfd full pipeline (tiny DINOv2, stored SAM records): terms, components, pictures and the mean, both modes") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/cfd.json");
  const CfdFixture f = open_fixture(conf);
  const auto net = metrics::Dinov2::load(
      metrics::Dinov2Config::from_json_text(f.dinov2_json.at("config").dump(), "cfd/dinov2.json:config"),
      f.dir / f.json.at("dinov2").at("weights").get<std::string>(), c10::kCPU);
  const auto proc = metrics::BitProcessorConfig::from_json_text(f.dinov2_json.at("preprocessor_config").dump(),
                                                                "cfd/dinov2.json:preprocessor_config");
  const std::vector<PlannedCase> cases = planned_cases(f);
  for (const metrics::CfdMode mode : {metrics::CfdMode::Official, metrics::CfdMode::Corrected}) {
    const std::string m = metrics::to_string(mode);
    CAPTURE(m);
    const double atol = f.json.at("tolerance").at("full_pipeline").at(m).get<double>();
    double worst = 0, mean = 0;
    for (const PlannedCase& p : cases) {
      CAPTURE(p.id);
      int calls_to_generate = 0;
      const metrics::CfdScorer scorer(net, proc, [&](const at::Tensor&) { ++calls_to_generate; return p.records; }, mode);
      const metrics::CfdPicture got = scorer.score(p.picture, p.mask);
      CHECK(calls_to_generate == 1);  // once per picture: generate is deterministic, the official code re-runs it per component
      const nlohmann::json& e = f.json.at("cases").at(p.id);
      REQUIRE(got.components.size() == e.at("components").size());
      for (size_t k = 0; k < got.components.size(); ++k) {
        const nlohmann::json& ec = e.at("components")[k];
        for (size_t i = 0; i < got.components[k].terms.size(); ++i) {
          const double err = std::abs(got.components[k].terms[i].distance - ec.at("calls")[i].at(m).at("score_f64_run").get<double>());
          worst = std::max(worst, err);
          CHECK(err <= atol);
        }
        const double err = std::abs(got.components[k].value - ec.at(m).at("value_f64_run").get<double>());
        worst = std::max(worst, err);
        CHECK(err <= atol);
      }
      const double err = std::abs(got.score - e.at(m).at("score_f64_run").get<double>());
      worst = std::max(worst, err);
      CHECK(err <= atol);
      mean += got.score / static_cast<double>(cases.size());
    }
    const double err = std::abs(mean - f.json.at("cfd_over_pictures").at(m + "_f64_run").get<double>());
    MESSAGE(m << ": CFD over the pictures " << mean << ", error " << err << "; worst term/component/picture error " << worst
              << " (atol " << atol << ")");
    CHECK(err <= atol);
  }
}
