// PSNR and SSIM against scikit-image 0.19.3 on the conformance pairs (fixtures copied from
// shared/conformance, README section 1). Our CPU path is float64, so the float64 tolerance applies.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness/image_io.h"
#include "metrics/error.h"
#include "metrics/psnr.h"
#include "metrics/ssim.h"
#include "tests/test_paths.h"

using namespace osor;
using metrics::Channels;
using metrics::Region;
using metrics::SsimWindow;

namespace {

constexpr double kFloat64Tolerance = 1e-9;

nlohmann::json expected_json() {
  std::ifstream in(test::conformance_fixtures() / "psnr_ssim" / "expected.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

struct Pair {
  at::Tensor pred, ref, mask;
};

Pair load_pair(const nlohmann::json& c) {
  const auto dir = test::conformance_fixtures();
  Pair p;
  p.ref = harness::read_image(dir / c["ref"].get<std::string>()).rgb;
  p.pred = harness::read_image(dir / c["pred"].get<std::string>()).rgb;
  p.mask = harness::read_mask(dir / c["mask"].get<std::string>());
  return p;
}

double psnr_of(const Pair& p, Channels ch, Region region) {
  return metrics::psnr(p.pred, p.ref, {ch, region}, p.mask)[0].item<double>();
}

double ssim_of(const Pair& p, SsimWindow window, Channels ch, Region region) {
  metrics::SsimOptions o;
  o.window = window;
  o.pixels = {ch, region};
  return metrics::ssim(p.pred, p.ref, o, p.mask)[0].item<double>();
}

// A gray PNG read as RGB (the camera fixtures): all three channels equal the gray values.
at::Tensor gray_as_rgb(const std::string& name) {
  return harness::read_image(test::conformance_fixtures() / "images" / name).rgb;
}

}  // namespace

TEST_CASE("psnr and ssim match scikit-image 0.19.3 on every conformance pair (float64, 1e-9)") {
  const auto expected = expected_json();
  REQUIRE(expected["cases"].size() == 12);
  for (const auto& c : expected["cases"]) {
    const std::string id = c["id"];
    CAPTURE(id);
    const Pair p = load_pair(c);
    const auto& e = c["expected"];
    auto check = [&](const char* key, double value) {
      CAPTURE(key);
      if (e[key].is_null()) {  // null = +inf (identical pair)
        CHECK(std::isinf(value));
      } else {
        CHECK(std::abs(value - e[key].get<double>()) <= kFloat64Tolerance);
      }
    };
    check("psnr_rgb", psnr_of(p, Channels::Rgb, Region::Full));
    check("psnr_luma", psnr_of(p, Channels::Luma, Region::Full));
    check("psnr_rgb_masked", psnr_of(p, Channels::Rgb, Region::Mask));
    check("psnr_luma_masked", psnr_of(p, Channels::Luma, Region::Mask));
    check("ssim_rgb_gaussian", ssim_of(p, SsimWindow::Gaussian, Channels::Rgb, Region::Full));
    check("ssim_rgb_default", ssim_of(p, SsimWindow::Uniform, Channels::Rgb, Region::Full));
    check("ssim_luma_gaussian", ssim_of(p, SsimWindow::Gaussian, Channels::Luma, Region::Full));
    check("ssim_luma_default", ssim_of(p, SsimWindow::Uniform, Channels::Luma, Region::Full));
    check("ssim_rgb_gaussian_masked", ssim_of(p, SsimWindow::Gaussian, Channels::Rgb, Region::Mask));
    check("ssim_rgb_default_masked", ssim_of(p, SsimWindow::Uniform, Channels::Rgb, Region::Mask));
    check("ssim_luma_gaussian_masked", ssim_of(p, SsimWindow::Gaussian, Channels::Luma, Region::Mask));
    check("ssim_luma_default_masked", ssim_of(p, SsimWindow::Uniform, Channels::Luma, Region::Mask));
  }
}

TEST_CASE("ssim and psnr reproduce scikit-image's own camera regression numbers") {
  const auto camera = expected_json()["camera"]["skimage_0_19_camera_test"];
  const at::Tensor cam = gray_as_rgb("camera.png");
  const at::Tensor noisy = gray_as_rgb("camera_noisy.png");
  // Gray inputs: every channel carries the same image, so the RGB mean equals the 2-D value.
  metrics::SsimOptions gaussian;
  CHECK(std::abs(metrics::ssim(noisy, cam, gaussian)[0].item<double>() - camera["ssim_gaussian_paper"].get<double>()) <=
        kFloat64Tolerance);
  metrics::SsimOptions uniform;
  uniform.window = SsimWindow::Uniform;
  CHECK(std::abs(metrics::ssim(noisy, cam, uniform)[0].item<double>() - camera["ssim_default"].get<double>()) <=
        kFloat64Tolerance);
  // scikit-image's test asserts 0.3674518327910367 to 7 decimals; IPOL's 0.357959091663361 to 3.
  CHECK(std::abs(metrics::ssim(noisy, cam, uniform)[0].item<double>() - 0.3674518327910367) < 1e-7);
  CHECK(std::abs(metrics::ssim(noisy, cam, gaussian)[0].item<double>() - 0.357959091663361) < 1e-3);
  CHECK(std::abs(metrics::psnr(noisy, cam, {})[0].item<double>() - camera["psnr"].get<double>()) <= kFloat64Tolerance);
}

TEST_CASE("bbox region equals the metric on the images cropped to the mask's bounding box") {
  using at::indexing::Slice;
  const auto expected = expected_json();
  const Pair p = load_pair(expected["cases"][0]);  // p01, 256x256, strokes mask
  const at::Tensor on = p.mask[0][0].gt(0.5);
  const auto rows = on.any(1).nonzero(), cols = on.any(0).nonzero();
  const int64_t t = rows.min().item<int64_t>(), b = rows.max().item<int64_t>() + 1;
  const int64_t l = cols.min().item<int64_t>(), r = cols.max().item<int64_t>() + 1;
  auto crop = [&](const at::Tensor& img) { return img.index({Slice(), Slice(), Slice(t, b), Slice(l, r)}).contiguous(); };
  metrics::SsimOptions bbox;
  bbox.pixels.region = Region::BBox;
  CHECK(metrics::ssim(p.pred, p.ref, bbox, p.mask)[0].item<double>() ==
        doctest::Approx(metrics::ssim(crop(p.pred), crop(p.ref), {})[0].item<double>()).epsilon(1e-12));
  CHECK(metrics::psnr(p.pred, p.ref, {Channels::Rgb, Region::BBox}, p.mask)[0].item<double>() ==
        doctest::Approx(metrics::psnr(crop(p.pred), crop(p.ref), {})[0].item<double>()).epsilon(1e-12));
}

TEST_CASE("pixel metrics are batched: a batch gives the per-image values") {
  const auto expected = expected_json();
  const Pair a = load_pair(expected["cases"][0]);  // p01 256x256
  const Pair b = load_pair(expected["cases"][2]);  // p03 256x256
  const at::Tensor pred = at::cat({a.pred, b.pred}), ref = at::cat({a.ref, b.ref});
  const at::Tensor mask = at::cat({a.mask, b.mask});
  metrics::SsimOptions masked;
  masked.pixels.region = Region::Mask;
  const at::Tensor s = metrics::ssim(pred, ref, masked, mask);
  CHECK(s[0].item<double>() == metrics::ssim(a.pred, a.ref, masked, a.mask)[0].item<double>());
  CHECK(s[1].item<double>() == metrics::ssim(b.pred, b.ref, masked, b.mask)[0].item<double>());
  const at::Tensor q = metrics::psnr(pred, ref, {});
  CHECK(std::abs(q[1].item<double>() - expected["cases"][2]["expected"]["psnr_rgb"].get<double>()) <= kFloat64Tolerance);
}

TEST_CASE("float32 inputs in [0,1] are scored on their 8-bit values") {
  const auto expected = expected_json();
  const Pair p = load_pair(expected["cases"][1]);
  const at::Tensor pred_u8 = p.pred.mul(255).round().to(at::kByte);
  const at::Tensor ref_u8 = p.ref.mul(255).round().to(at::kByte);
  CHECK(metrics::psnr(pred_u8, ref_u8, {})[0].item<double>() == metrics::psnr(p.pred, p.ref, {})[0].item<double>());
  CHECK(metrics::ssim(pred_u8, ref_u8, {})[0].item<double>() == metrics::ssim(p.pred, p.ref, {})[0].item<double>());
}

TEST_CASE("pixel metrics reject bad inputs with a message that says what is wrong") {
  const at::Tensor a = at::rand({1, 3, 32, 32}), b = at::rand({1, 3, 32, 40});
  CHECK_THROWS_WITH_AS(metrics::psnr(a, b, {}), doctest::Contains("differ in size"), MetricError);
  CHECK_THROWS_WITH_AS(metrics::ssim(a, b, {}), doctest::Contains("differ in size"), MetricError);
  const at::Tensor tiny = at::rand({1, 3, 10, 10});
  CHECK_THROWS_WITH_AS(metrics::ssim(tiny, tiny, {}), doctest::Contains("smaller than the 11x11 window"), MetricError);
  const at::Tensor empty_mask = at::zeros({1, 1, 32, 32});
  metrics::SsimOptions masked;
  masked.pixels.region = Region::Mask;
  CHECK_THROWS_WITH_AS(metrics::ssim(a, a, masked, empty_mask), doctest::Contains("no pixel"), MetricError);
  CHECK_THROWS_WITH_AS(metrics::psnr(a, a, {Channels::Rgb, Region::BBox}, empty_mask), doctest::Contains("no pixel"),
                       MetricError);
  CHECK_THROWS_WITH_AS(metrics::psnr(a, a, {Channels::Rgb, Region::Mask}), doctest::Contains("needs a mask"),
                       MetricError);
  CHECK_THROWS_WITH_AS(metrics::parse_region("inside"), doctest::Contains("unknown region 'inside'"), MetricError);
}
