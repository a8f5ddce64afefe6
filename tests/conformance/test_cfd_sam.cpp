// Fixture cfd/sam (README §3): segment-anything's Sam in a tiny ViT-H-structured configuration: the predictor's
// Pillow bilinear resize (exact), the normalised and padded input, the image encoder (windowed + global attention,
// relative positions; block traces), the dense positional encoding, the prompt encoder for points, the mask decoder
// (multimask as the generator calls it, single mask as SamPredictor.predict) and postprocess_masks. Float32 against
// the float64 reference with sam.json's per-tensor atol; the configuration and the calls come from the fixture.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "harness/image_io.h"
#include "metrics/networks/sam.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"

using namespace osor;
using model::SafetensorsFile;
using test::max_abs;
using test::read_fixture_json;

namespace {

struct SamFixture {
  std::filesystem::path dir;
  nlohmann::json json;
  SafetensorsFile io;
  metrics::Sam sam;
  double atol(const std::string& name) const { return json.at("tolerance").at("atol").at(name).get<double>(); }
  void check(const std::string& name, const at::Tensor& got) const {
    const at::Tensor expected = io.tensor(name + "_f64");
    REQUIRE(got.numel() == expected.numel());
    const double err = max_abs(got, expected);
    MESSAGE(name << ": max |port - f64| = " << err << " (atol " << atol(name) << ")");
    CHECK(err <= atol(name));
  }
};

SamFixture open_sam(const std::filesystem::path& conf) {
  const std::filesystem::path dir = conf / "cfd";
  nlohmann::json j = read_fixture_json(dir / "sam.json");
  const auto config = metrics::SamConfig::from_json_text(j.at("config").dump(), "cfd/sam.json:config");
  auto sam = metrics::Sam::load(config, dir / j.at("weights").at("file").get<std::string>(), c10::kCPU);
  return SamFixture{dir, std::move(j), SafetensorsFile::open(dir / "sam.io.safetensors"), sam};
}

}  // namespace

TEST_CASE("conformance: cfd/sam set_image: Pillow bilinear resize exact, input tensor, image encoder and dense positions within atol") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/sam.json");
  const SamFixture f = open_sam(conf);
  const at::Tensor picture = harness::read_image(f.dir / f.json.at("picture").get<std::string>()).rgb[0].mul(255).round().to(at::kByte);
  const at::Tensor resized = f.sam.resize_longest_side(picture);
  CHECK(at::equal(resized.permute({1, 2, 0}).contiguous(), f.io.tensor("input_image")));
  CHECK(std::vector<int64_t>{resized.size(1), resized.size(2)} == f.json.at("input_size").get<std::vector<int64_t>>());
  const at::Tensor input = f.sam.input_tensor(resized);
  const double input_err = max_abs(input, f.io.tensor("input_tensor"));
  MESSAGE("input tensor: max error " << input_err);
  CHECK(input_err <= 1e-6);  // the same float32 (x − mean)/std
  f.check("image_embeddings", f.sam.image_embeddings(input));
  for (const auto& [name, value] : f.sam.encoder_hidden_states(input)) {
    const std::string key = "trace.image_encoder." + name;
    if (!f.io.contains(key)) continue;
    CAPTURE(key);
    CHECK(max_abs(value, f.io.tensor(key)) <= f.atol("image_embeddings"));
  }
  f.check("image_pe", f.sam.dense_pe());
}

TEST_CASE("conformance: cfd/sam prompt encoder, mask decoder (multimask and single) and postprocess_masks within atol") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/sam.json");
  const SamFixture f = open_sam(conf);
  const at::Tensor picture = harness::read_image(f.dir / f.json.at("picture").get<std::string>()).rgb[0].mul(255).round().to(at::kByte);
  const metrics::SamImage image = f.sam.set_image(picture);
  CHECK(std::vector<int64_t>(image.original_size.begin(), image.original_size.end()) == f.json.at("original_size").get<std::vector<int64_t>>());

  // p1, the mask generator's call: one positive point per prompt, multimask output, logits.
  const at::Tensor p1 = f.sam.apply_coords(f.io.tensor("p1.points"), image.original_size);
  CHECK(max_abs(p1, f.io.tensor("p1.transformed_points")) <= 1e-12);
  const at::Tensor points = p1.unsqueeze(1), labels = at::ones({p1.size(0), 1}, at::kLong);
  const auto [sparse, dense] = f.sam.prompt_embeddings(points, labels);
  f.check("p1.sparse", sparse);
  f.check("p1.dense", dense[0]);
  const metrics::SamPrediction pred = f.sam.predict(image, points, labels, true);
  f.check("p1.low_res_masks", pred.low_res_logits);
  f.check("p1.iou_predictions", pred.iou_predictions);
  f.check("p1.masks_logits", f.sam.postprocess_masks(pred.low_res_logits.slice(0, 0, 1).slice(1, 0, 1), image.input_size, image.original_size));

  // p2, SamPredictor.predict: several points of one prompt, single-mask output.
  const at::Tensor p2 = f.sam.apply_coords(f.io.tensor("p2.points"), image.original_size).unsqueeze(0);
  const metrics::SamPrediction single = f.sam.predict(image, p2, f.io.tensor("p2.labels").unsqueeze(0), false);
  f.check("p2.low_res_masks", single.low_res_logits);
  f.check("p2.iou_predictions", single.iou_predictions);
}
