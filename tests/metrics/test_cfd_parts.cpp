// CFD's parts on small synthetic inputs: the error paths name the input and the problem, and the geometry quirks
// the cfd fixture's README records (ring asymmetry, 8-connectivity, Pillow's NEAREST sampling, the official index
// of a mode "L" mask) hold on hand-made masks. The ring probe's numbers come from cfd.json when the fixture set is
// present.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include "metrics/cfd.h"
#include "metrics/cfd_features.h"
#include "metrics/cfd_regions.h"
#include "metrics/error.h"
#include "metrics/mask_record.h"
#include "metrics/networks/dinov2.h"
#include "metrics/networks/sam.h"
#include "metrics/resize.h"
#include "model/error.h"
#include "tests/conformance_fixture.h"

using namespace osor;
using namespace osor::metrics;

TEST_CASE("cfd parts: bad inputs and configs are refused with a message naming the problem") {
  const at::Tensor image = at::zeros({3, 8, 8}, at::kByte);
  CHECK_THROWS_WITH_AS(plan_cfd(image, at::zeros({8, 8}, at::kBool), {}), doctest::Contains("the object mask is empty"), MetricError);
  CHECK_THROWS_WITH_AS(plan_cfd(image, at::ones({8, 9}, at::kBool), {}), doctest::Contains("differ in size"), MetricError);
  CHECK_THROWS_WITH_AS(cfd_mode_from_string("fixed"), doctest::Contains("CFD mode 'fixed' is not known"), MetricError);
  CHECK_THROWS_WITH_AS(Dinov2Config::from_json_text("[]", "dinov2-giant/config.json"),
                       doctest::Contains("dinov2-giant/config.json: not a JSON object"), ModelError);
  CHECK_THROWS_WITH_AS(Dinov2Config::from_json_text(R"({"hidden_size": 30, "num_attention_heads": 4})", "c.json"),
                       doctest::Contains("c.json: hidden_size must be a positive multiple of num_attention_heads"), ModelError);
  CHECK_THROWS_WITH_AS(SamConfig::from_json_text(R"({"image_size": 1000})", "sam.json"),
                       doctest::Contains("sam.json: image_size must be a multiple of vit_patch_size"), ModelError);
  CHECK_THROWS_WITH_AS(rle_to_mask({1, 2}, 2, 2), doctest::Contains("cover 3 pixels, expected 4"), MetricError);
  CHECK_THROWS_WITH_AS(rle_to_mask({3, 2}, 2, 2), doctest::Contains("do not fit a 2x2 mask"), MetricError);
  CHECK_THROWS_WITH_AS(Dinov2Config::from_json_file("/nonexistent/config.json"), doctest::Contains("/nonexistent/config.json: cannot open"), ModelError);
}

TEST_CASE("cfd parts: RLE round trip in SAM's column-major order, 8-connected components, Pillow NEAREST sampling") {
  const at::Tensor m = at::rand({7, 5}).gt(0.5);
  const std::vector<int64_t> counts = mask_to_rle(m);
  CHECK(at::equal(rle_to_mask(counts, 7, 5), m));
  // Column-major: the first run covers column 0 top to bottom.
  at::Tensor col = at::zeros({3, 2}, at::kBool);
  col.select(1, 0).fill_(true);
  CHECK(mask_to_rle(col) == std::vector<int64_t>{0, 3, 3});
  // Two squares touching at a corner are one component (cv2's default 8-connectivity).
  at::Tensor two = at::zeros({6, 6}, at::kBool);
  two.slice(0, 0, 2).slice(1, 0, 2).fill_(true);
  two.slice(0, 2, 4).slice(1, 2, 4).fill_(true);
  CHECK(connected_components8(two).size() == 1);
  two.slice(0, 2, 4).slice(1, 2, 4).fill_(false);
  two.slice(0, 4, 6).slice(1, 4, 6).fill_(true);
  CHECK(connected_components8(two).size() == 2);
  // Pillow NEAREST 224 → 16 samples floor((j + 0.5)·14) = 14j + 7.
  const at::Tensor ramp = at::arange(224, at::kLong).to(at::kByte).view({1, 1, 224}).expand({1, 224, 224}).contiguous();
  const at::Tensor cells = pil_resize_nearest_u8(ramp, 16, 16)[0][0];
  for (int64_t j = 0; j < 16; ++j) CHECK(cells[j].item<int64_t>() == 14 * j + 7);
}

TEST_CASE("cfd parts: the official index of a mode L mask is integer indexing, of a mode 1 mask a boolean selection off by one") {
  at::Tensor full = at::ones({224, 224}, at::kBool);
  const OfficialIndex l = official_index(full, true, false);
  REQUIRE(l.values.size() == 257);
  CHECK(!l.is_bool);
  CHECK(l.values[0] == 255);
  CHECK(l.values[256] == 1);  // np.append(uint8 mask, True) → 1 → row 1
  const std::vector<int64_t> rows = l.rows();
  CHECK(rows.size() == 257);
  CHECK(std::count(rows.begin(), rows.end(), 255) == 256);
  const OfficialIndex b = official_index(at::zeros({224, 224}, at::kBool), false, false);
  CHECK(b.is_bool);
  CHECK(b.rows() == std::vector<int64_t>{256});  // the last patch is always selected
  // Corrected weights: a mask of the left half covers the left 8 cell columns fully.
  at::Tensor half = at::zeros({32, 32}, at::kBool);
  half.slice(1, 0, 16).fill_(true);
  const at::Tensor w = corrected_cell_weights(half);
  CHECK(w.slice(1, 0, 8).eq(1).all().item<bool>());
  CHECK(w.slice(1, 8, 16).eq(0).all().item<bool>());
}

TEST_CASE("conformance: cfd/cfd ring probe: the context rectangle is PIL-inclusive, one pixel longer right and bottom") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/cfd.json");
  const auto probe = test::read_fixture_json(conf / "cfd" / "cfd.json").at("quirks_confirmed_by_running").at("ring_probe");
  const auto lurb = probe.at("component_bbox_exclusive_lurb").get<std::vector<int64_t>>();
  const int64_t size = 4 * std::max(lurb[2], lurb[3]);  // large enough for no clipping
  at::Tensor object = at::zeros({size, size}, at::kBool);
  object.slice(0, lurb[1], lurb[3]).slice(1, lurb[0], lurb[2]).fill_(true);
  const ContextRing ring = context_ring(object);
  const at::Tensor filled = ring.mask.logical_or(object);
  const at::Tensor rows = filled.any(1).nonzero(), cols = filled.any(0).nonzero();
  CHECK(cols.min().item<int64_t>() == probe.at("filled_min_x").get<int64_t>());
  CHECK(cols.max().item<int64_t>() == probe.at("filled_max_x").get<int64_t>());
  CHECK(rows.min().item<int64_t>() == probe.at("filled_min_y").get<int64_t>());
  CHECK(rows.max().item<int64_t>() == probe.at("filled_max_y").get<int64_t>());
}
