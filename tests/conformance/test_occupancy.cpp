// conformance: occupancy/ — the discriminator's occupancy targets (model/train/occupancy.h) against PyTorch's
// pooling/interpolation and scipy's Gaussian filter (../shared/conformance/README.md §5). The masks are PNGs, so
// this test lives with the OpenCV-backed conformance tests; the code under test is OpenCV-free.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <filesystem>
#include <set>
#include <string>

#include "harness/image_io.h"
#include "model/io/safetensors.h"
#include "model/train/occupancy.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"

namespace {

using osor::model::train::OccupancyMethod;

bool must_be_exact(OccupancyMethod m) {
  return m == OccupancyMethod::Nearest || m == OccupancyMethod::NearestExact || m == OccupancyMethod::Max;
}

}  // namespace

TEST_CASE("conformance: occupancy/expected every mask, grid and method matches torch and scipy") {
  OSOR_REQUIRE_CONFORMANCE(root, "occupancy/expected.json");
  const auto spec = osor::test::read_fixture_json(root / "occupancy" / "expected.json");
  const auto expected = osor::model::SafetensorsFile::open(root / "occupancy" / "expected.safetensors");
  osor::model::train::OccupancyOptions options;
  options.sigma_px = spec.at("sigma_px").get<double>();
  options.sigma_cell = spec.at("sigma_cell").get<double>();
  options.truncate_cell = spec.at("truncate_cell").get<double>();
  // truncate_px is not in the JSON: the README's scipy call uses scipy's default truncate=4.0, our default.

  size_t compared = 0;
  std::set<std::string> methods_seen;
  for (const auto& m : spec.at("masks")) {
    const std::filesystem::path png = root / m.at("mask").get<std::string>();
    const std::string stem = png.stem().string();
    const auto mask = osor::harness::read_mask(png).to(at::kFloat);  // (png > 127) as 0/1, [1,1,H,W]
    REQUIRE(mask.size(2) == m.at("height").get<int64_t>());
    REQUIRE(mask.size(3) == m.at("width").get<int64_t>());
    for (const auto& g : spec.at("grids")) {
      const int64_t gh = g.at(0).get<int64_t>(), gw = g.at(1).get<int64_t>();
      const std::string prefix = stem + "/" + std::to_string(gh) + "x" + std::to_string(gw) + "/";
      for (const auto& key : expected.names()) {
        if (key.rfind(prefix, 0) != 0) continue;
        const std::string method = key.substr(prefix.size());
        options.method = osor::model::train::parse_occupancy_method(method);
        const auto got = osor::model::train::occupancy_target(mask, gh, gw, options);
        const auto want = expected.tensor(key);
        REQUIRE(got.sizes().vec() == std::vector<int64_t>{1, gh, gw});
        const double err = osor::test::max_abs(got, want);
        const double tol = must_be_exact(options.method) ? 0.0 : osor::test::readme_tolerance::kOccupancyFloat32;
        CHECK_MESSAGE(err <= tol, key << ": max |err| " << err << " > " << tol);
        methods_seen.insert(method);
        ++compared;
      }
    }
  }
  CHECK(compared == expected.names().size());  // every stored grid was checked
  CHECK(methods_seen.count("area_interpolate") == 1);
}

TEST_CASE("occupancy: an unknown method name is an error that lists the known ones") {
  try {
    osor::model::train::parse_occupancy_method("bicubic");
    FAIL("no error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("'bicubic' is unknown") != std::string::npos);
    CHECK(std::string(e.what()).find("gauss_px_then_area") != std::string::npos);
  }
}
