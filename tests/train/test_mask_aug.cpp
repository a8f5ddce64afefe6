// conformance: train/mask_aug — Phase II mask degradations (model/train/mask_degradation.h) against OSOR's
// MaskAugmentor with its random draws given explicitly (train/README.md §4). Exact: uint8 equality, distance map
// and threshold bit-exact.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <set>
#include <string>

#include "model/train/mask_degradation.h"
#include "model/train/mask_geometry.h"
#include "tests/train/train_fixture.h"

namespace {

using namespace osor::model::train;

// A polygon as a set of vertices (start and orientation are OpenCV's choice; the fill does not depend on them).
std::set<std::pair<int64_t, int64_t>> vertex_set(const Polygon& p) { return {p.begin(), p.end()}; }

void check_expand(const osor::test::TrainFixture& fx, const nlohmann::json& c, const at::Tensor& input) {
  const std::string key = c.at("key");
  // Our hulls are the fixture's (as vertex sets, in any order of contours).
  std::set<std::set<std::pair<int64_t, int64_t>>> ours, theirs;
  for (const auto& h : external_hulls(input)) ours.insert(vertex_set(h));
  for (const auto& h : c.at("hulls_xy")) {
    Polygon p;
    for (const auto& v : h) p.emplace_back(v.at(0).get<int64_t>(), v.at(1).get<int64_t>());
    theirs.insert(vertex_set(p));
  }
  CHECK_MESSAGE(ours == theirs, key << ": convex hulls differ from OpenCV's");
  at::Tensor hull_mask;
  const at::Tensor out = expand_mask(input, c.at("kernel").get<int64_t>(), c.at("iterations").get<int64_t>(), &hull_mask);
  CHECK_MESSAGE(hull_mask.equal(fx.io.tensor(key + ".hull_mask")), key << ".hull_mask: "
                << hull_mask.ne(fx.io.tensor(key + ".hull_mask")).sum().item<int64_t>() << " pixels differ");
  CHECK_MESSAGE(out.equal(fx.io.tensor(key + ".output")), key << ".output: "
                << out.ne(fx.io.tensor(key + ".output")).sum().item<int64_t>() << " pixels differ");
}

}  // namespace

TEST_CASE("conformance: train/mask_aug shrink, expand, holes and shift reproduce MaskAugmentor exactly") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/mask_aug.json");
  osor::test::TrainFixture fx(root, "mask_aug");
  std::set<std::string> modes;
  for (const auto& c : fx.json.at("cases")) {
    const std::string key = c.at("key");
    const at::Tensor input = binarize_mask(fx.io.tensor(key.substr(0, key.find('.')) + ".input"));
    const std::string mode = c.at("mode");
    modes.insert(mode);
    at::Tensor out;
    switch (parse_mask_degradation(mode)) {
      case MaskDegradation::Shrink: {
        ShrinkTrace trace;
        out = shrink_mask(input, c.at("ratio").get<double>(), &trace);
        CHECK_MESSAGE(trace.dist.equal(fx.io.tensor(key + ".dist")), key << ".dist: max |err| "
                      << osor::test::max_abs(trace.dist, fx.io.tensor(key + ".dist")));
        CHECK(trace.threshold == fx.io.tensor(key + ".threshold").item<float>());
        break;
      }
      case MaskDegradation::Expand: check_expand(fx, c, input); continue;
      case MaskDegradation::Holes:
        out = holes_mask(input, fx.io.tensor(key + ".seeds"), c.at("kernel").get<int64_t>());
        break;
      case MaskDegradation::Shift:
        out = shift_mask(input, c.at("dx").get<int64_t>(), c.at("dy").get<int64_t>());
        break;
      case MaskDegradation::Sam: FAIL("the fixture has no sam case"); continue;
    }
    CHECK_MESSAGE(out.equal(fx.io.tensor(key + ".output")), key << ".output: "
                  << out.ne(fx.io.tensor(key + ".output")).sum().item<int64_t>() << " pixels differ");
    CHECK((out > 0).sum().item<int64_t>() == c.at("output_area").get<int64_t>());
  }
  CHECK(modes.size() >= 4);
}

TEST_CASE("train/mask_aug sampled draws stay within the official ranges and the sam mode falls back to shrink") {
  std::mt19937_64 rng(7);
  auto o = MaskDegradationOptions::sdxl_defaults();
  o.mode_weights = {0, 0, 0, 0, 1};  // only sam: without a SAM mask it must become shrink
  for (int i = 0; i < 20; ++i) {
    const auto d = sample_degradation(o, 16, 16, false, rng);
    CHECK(d.mode == MaskDegradation::Shrink);
    CHECK((d.ratio >= 0.5 && d.ratio < 0.7));
  }
  o = MaskDegradationOptions::sdxl_defaults();
  for (int i = 0; i < 200; ++i) {
    const auto d = sample_degradation(o, 16, 16, true, rng);
    if (d.mode == MaskDegradation::Shift) CHECK((std::abs(d.dx) <= 35 && std::abs(d.dy) <= 35));
    if (d.mode == MaskDegradation::Expand) {
      CHECK((d.kernel == 7 || d.kernel == 11 || d.kernel == 17));
      CHECK((d.iterations >= 1 && d.iterations <= 3));
    }
    if (d.mode == MaskDegradation::Holes) CHECK((d.seeds.sizes() == at::IntArrayRef{16, 16}));
  }
  CHECK_THROWS_WITH_AS(parse_mask_degradation("erode"), doctest::Contains("'erode' is unknown"), std::exception);
}
