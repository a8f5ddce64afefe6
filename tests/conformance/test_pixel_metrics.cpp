// PSNR and SSIM against scikit-image 0.19.3 on the conformance pairs (README section 1): pictures, the case list
// and the expected values all come from the fixture set's psnr_ssim/expected.json. Our CPU path is float64, so
// the README's float64 tolerance applies.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "harness/image_io.h"
#include "metrics/error.h"
#include "metrics/psnr.h"
#include "metrics/ssim.h"
#include "metrics/ssim_filter.h"
#include "tests/conformance_fixture.h"

using namespace osor;
using metrics::Channels;
using metrics::Region;
using metrics::SsimWindow;
using test::readme_tolerance::kPixelMetricsFloat64;

namespace {

constexpr const char* kExpected = "psnr_ssim/expected.json";

struct Pair {
  at::Tensor pred, ref, mask;
};

Pair load_pair(const std::filesystem::path& conf, const nlohmann::json& c) {
  Pair p;
  p.ref = harness::read_image(conf / c.at("ref").get<std::string>()).rgb;
  p.pred = harness::read_image(conf / c.at("pred").get<std::string>()).rgb;
  p.mask = harness::read_mask(conf / c.at("mask").get<std::string>());
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

// Equal to 1e-12 relative; two infinities of one sign (PSNR of identical pictures) are equal too.
bool same_value(double a, double b) {
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return a == doctest::Approx(b).epsilon(1e-12);
}

}  // namespace

TEST_CASE("conformance: psnr_ssim/expected psnr and ssim match scikit-image 0.19.3 on every pair (float64, 1e-9)") {
  OSOR_REQUIRE_CONFORMANCE(conf, kExpected);
  const auto expected = test::read_fixture_json(conf / kExpected);
  REQUIRE(!expected.at("cases").empty());
  for (const auto& c : expected.at("cases")) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const Pair p = load_pair(conf, c);
    const auto& e = c.at("expected");
    auto check = [&](const char* key, double value) {
      CAPTURE(key);
      if (e.at(key).is_null()) {  // null = +inf (identical pair)
        CHECK(std::isinf(value));
      } else {
        CHECK(std::abs(value - e.at(key).get<double>()) <= kPixelMetricsFloat64);
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

TEST_CASE("conformance: psnr_ssim/expected ssim and psnr reproduce scikit-image's own camera regression numbers") {
  OSOR_REQUIRE_CONFORMANCE(conf, kExpected);
  const auto camera = test::read_fixture_json(conf / kExpected).at("camera").at("skimage_0_19_camera_test");
  // Gray PNGs read as RGB: every channel carries the same image, so the RGB mean equals the 2-D value.
  const at::Tensor cam = harness::read_image(conf / camera.at("inputs").at("image_true").get<std::string>()).rgb;
  const at::Tensor noisy = harness::read_image(conf / camera.at("inputs").at("image_test").get<std::string>()).rgb;
  metrics::SsimOptions gaussian;
  metrics::SsimOptions uniform;
  uniform.window = SsimWindow::Uniform;
  const double ssim_gaussian = metrics::ssim(noisy, cam, gaussian)[0].item<double>();
  const double ssim_uniform = metrics::ssim(noisy, cam, uniform)[0].item<double>();
  CHECK(std::abs(ssim_gaussian - camera.at("ssim_gaussian_paper").get<double>()) <= kPixelMetricsFloat64);
  CHECK(std::abs(ssim_uniform - camera.at("ssim_default").get<double>()) <= kPixelMetricsFloat64);
  CHECK(std::abs(metrics::psnr(noisy, cam, {})[0].item<double>() - camera.at("psnr").get<double>()) <=
        kPixelMetricsFloat64);
  // scikit-image's own tests assert their constants to 7 decimals (legacy) and 3 (IPOL). The constants belong to
  // scikit-image's test inputs, so they are checked where the fixture's reference values are within those bounds
  // of them (its pictures are those inputs).
  const auto& constants = camera.at("skimage_test_constants");
  const double legacy = constants.at("test_mssim_vs_legacy").at("mssim_skimage_0pt17").get<double>();
  const double ipol = constants.at("test_gaussian_structural_similarity_vs_IPOL").at("mssim_IPOL").get<double>();
  if (std::abs(camera.at("ssim_default").get<double>() - legacy) < 1e-7) {
    CHECK(std::abs(ssim_uniform - legacy) < 1e-7);
  } else {
    MESSAGE("the fixture's camera pictures are not scikit-image's test inputs: the legacy constant is not checked");
  }
  if (std::abs(camera.at("ssim_gaussian_paper").get<double>() - ipol) < 1e-3) {
    CHECK(std::abs(ssim_gaussian - ipol) < 1e-3);
  } else {
    MESSAGE("the fixture's camera pictures are not scikit-image's test inputs: the IPOL constant is not checked");
  }
}

TEST_CASE("conformance: psnr_ssim/expected bbox region equals the metric on the images cropped to the mask's bounding box") {
  using at::indexing::Slice;
  OSOR_REQUIRE_CONFORMANCE(conf, kExpected);
  const auto expected = test::read_fixture_json(conf / kExpected);
  // The crop must hold the Gaussian window, the default one of SsimOptions.
  const int64_t window = 2 * metrics::ssim_filter(SsimWindow::Gaussian).radius() + 1;
  int checked = 0;
  for (const auto& c : expected.at("cases")) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const Pair p = load_pair(conf, c);
    const at::Tensor on = p.mask[0][0].gt(0.5);
    if (!on.any().item<bool>()) continue;
    const auto rows = on.any(1).nonzero(), cols = on.any(0).nonzero();
    const int64_t t = rows.min().item<int64_t>(), b = rows.max().item<int64_t>() + 1;
    const int64_t l = cols.min().item<int64_t>(), r = cols.max().item<int64_t>() + 1;
    if (b - t < window || r - l < window) continue;
    auto crop = [&](const at::Tensor& img) {
      return img.index({Slice(), Slice(), Slice(t, b), Slice(l, r)}).contiguous();
    };
    metrics::SsimOptions bbox;
    bbox.pixels.region = Region::BBox;
    CHECK(same_value(metrics::ssim(p.pred, p.ref, bbox, p.mask)[0].item<double>(),
                     metrics::ssim(crop(p.pred), crop(p.ref), {})[0].item<double>()));
    CHECK(same_value(metrics::psnr(p.pred, p.ref, {Channels::Rgb, Region::BBox}, p.mask)[0].item<double>(),
                     metrics::psnr(crop(p.pred), crop(p.ref), {})[0].item<double>()));
    ++checked;
  }
  MESSAGE(checked << " pairs with a mask bounding box of at least " << window << "x" << window);
  CHECK(checked >= 1);
}

TEST_CASE("conformance: psnr_ssim/expected pixel metrics are batched, a batch gives the per-image values") {
  OSOR_REQUIRE_CONFORMANCE(conf, kExpected);
  const auto expected = test::read_fixture_json(conf / kExpected);
  // The first pair with a finite PSNR, batched with a second pair of its size made from it: the prediction
  // mirrored left to right, so the two batch entries have different values.
  const nlohmann::json* first = nullptr;
  for (const auto& c : expected.at("cases"))
    if (!c.at("expected").at("psnr_rgb").is_null()) {
      first = &c;
      break;
    }
  REQUIRE(first != nullptr);
  const std::string id = first->at("id");
  CAPTURE(id);
  const Pair a = load_pair(conf, *first);
  const Pair b{a.pred.flip(3), a.ref, a.mask};
  const at::Tensor pred = at::cat({a.pred, b.pred}), ref = at::cat({a.ref, b.ref});
  const at::Tensor mask = at::cat({a.mask, b.mask});
  metrics::SsimOptions masked;
  masked.pixels.region = Region::Mask;
  const at::Tensor s = metrics::ssim(pred, ref, masked, mask);
  CHECK(s[0].item<double>() == metrics::ssim(a.pred, a.ref, masked, a.mask)[0].item<double>());
  CHECK(s[1].item<double>() == metrics::ssim(b.pred, b.ref, masked, b.mask)[0].item<double>());
  CHECK(s[0].item<double>() != s[1].item<double>());
  const at::Tensor q = metrics::psnr(pred, ref, {});
  CHECK(std::abs(q[0].item<double>() - first->at("expected").at("psnr_rgb").get<double>()) <= kPixelMetricsFloat64);
  CHECK(q[1].item<double>() == metrics::psnr(b.pred, b.ref, {})[0].item<double>());
}

TEST_CASE("conformance: psnr_ssim/expected float32 inputs in [0,1] are scored on their 8-bit values") {
  OSOR_REQUIRE_CONFORMANCE(conf, kExpected);
  const auto expected = test::read_fixture_json(conf / kExpected);
  REQUIRE(!expected.at("cases").empty());
  for (const auto& c : expected.at("cases")) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const Pair p = load_pair(conf, c);
    const at::Tensor pred_u8 = p.pred.mul(255).round().to(at::kByte);
    const at::Tensor ref_u8 = p.ref.mul(255).round().to(at::kByte);
    CHECK(metrics::psnr(pred_u8, ref_u8, {})[0].item<double>() == metrics::psnr(p.pred, p.ref, {})[0].item<double>());
    CHECK(metrics::ssim(pred_u8, ref_u8, {})[0].item<double>() == metrics::ssim(p.pred, p.ref, {})[0].item<double>());
  }
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
