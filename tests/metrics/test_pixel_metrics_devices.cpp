// OpenCV-free checks of the pixel metrics: the float64 CPU kernel against the independent tensor-op
// path (the one CUDA uses), on awkward sizes, and — where a GPU is present — CUDA against CPU.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "metrics/psnr.h"
#include "metrics/ssim.h"
#include "metrics/pixel_inputs.h"
#include "metrics/ssim_filter.h"

using namespace osor;
using metrics::Channels;
using metrics::Region;
using metrics::SsimWindow;

namespace {

// A smooth image plus noise, quantised to 8 bits, so SSIM is neither ~0 nor ~1.
at::Tensor test_image(int64_t h, int64_t w, int64_t seed) {
  at::manual_seed(seed);
  const at::Tensor ramp = at::linspace(0, 1, w).view({1, 1, 1, w}).expand({1, 3, h, w});
  return (ramp * 0.7 + at::rand({1, 3, h, w}) * 0.3).mul(255).round().div(255).to(at::kFloat);
}

}  // namespace

TEST_CASE("ssim: the CPU kernel equals the tensor-op path, borders and tiny sizes included") {
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{12, 17}, {11, 11}, {7, 30}, {64, 45}}) {
    CAPTURE(h);
    CAPTURE(w);
    const at::Tensor ref = test_image(h, w, 1), pred = test_image(h, w, 2);
    for (SsimWindow window : {SsimWindow::Gaussian, SsimWindow::Uniform}) {
      if (window == SsimWindow::Gaussian && h < 11) continue;
      const at::Tensor kernel_map = metrics::ssim_map(pred, ref, window, Channels::Rgb)[0];
      const at::Tensor ops_map =
          metrics::ssim_map_tensor(ref[0].to(at::kDouble).mul(255).round(), pred[0].to(at::kDouble).mul(255).round(),
                                   metrics::ssim_filter(window));
      CHECK((kernel_map - ops_map).abs().max().item<double>() < 1e-12);
    }
  }
}

TEST_CASE("pixel metrics on the CPU read rows in place: equal to the tensor definition for every dtype, channels, region") {
  // Off-grid floats, some outside [0,1] (clamped), as uint8/float32/float64/half; the expected values come from
  // eight_bit_values/luma_bt601 (channel_values) and the tensor-op SSIM map, region by region.
  using at::indexing::Slice;
  at::manual_seed(7);
  const int64_t h = 37, w = 29;
  const at::Tensor ref01 = at::rand({1, 3, h, w}, at::kDouble) * 1.2 - 0.1;
  const at::Tensor pred01 = (ref01 + at::randn({1, 3, h, w}, at::kDouble) * 0.05);
  at::Tensor mask = at::zeros({1, 1, h, w});
  mask.index_put_({Slice(), Slice(), Slice(5, 30), Slice(3, 20)}, (at::rand({1, 1, 25, 17}) > 0.3).to(at::kFloat));
  const metrics::BoundingBox box = metrics::mask_bounding_box("test", mask[0][0]);
  for (const auto dtype : {at::kByte, at::kFloat, at::kDouble, at::kHalf}) {
    CAPTURE(dtype);
    auto as = [&](const at::Tensor& x01) {
      return dtype == at::kByte ? x01.clamp(0, 1).mul(255).round().to(at::kByte) : x01.to(dtype);
    };
    const at::Tensor ref = as(ref01), pred = as(pred01);
    for (Channels ch : {Channels::Rgb, Channels::Luma}) {
      CAPTURE(static_cast<int>(ch));
      const at::Tensor x = metrics::channel_values(ref, ch)[0], y = metrics::channel_values(pred, ch)[0];
      const at::Tensor on = mask[0][0].gt(0.5);
      for (SsimWindow window : {SsimWindow::Gaussian, SsimWindow::Uniform}) {
        const metrics::SsimFilter filter = metrics::ssim_filter(window);
        const int64_t r = filter.radius();
        const at::Tensor map = metrics::ssim_map_tensor(x, y, filter);
        const at::Tensor crop_map = metrics::ssim_map_tensor(
            x.index({Slice(), Slice(box.top, box.bottom), Slice(box.left, box.right)}).contiguous(),
            y.index({Slice(), Slice(box.top, box.bottom), Slice(box.left, box.right)}).contiguous(), filter);
        const std::map<Region, double> expected = {
            {Region::Full, map.index({Slice(), Slice(r, h - r), Slice(r, w - r)}).mean().item<double>()},
            {Region::Mask, map.masked_select(on.expand_as(map)).mean().item<double>()},
            {Region::BBox, crop_map.index({Slice(), Slice(r, -r), Slice(r, -r)}).mean().item<double>()}};
        for (const auto& [region, value] : expected) {
          metrics::SsimOptions o;
          o.window = window;
          o.pixels = {ch, region};
          CHECK(metrics::ssim(pred, ref, o, mask)[0].item<double>() == doctest::Approx(value).epsilon(1e-12));
        }
      }
      const at::Tensor sq = (x - y).square();
      const std::map<Region, double> mse = {
          {Region::Full, sq.mean().item<double>()},
          {Region::Mask, sq.masked_select(on.expand_as(sq)).mean().item<double>()},
          {Region::BBox, sq.index({Slice(), Slice(box.top, box.bottom), Slice(box.left, box.right)}).mean().item<double>()}};
      for (const auto& [region, value] : mse)
        CHECK(metrics::psnr(pred, ref, {ch, region}, mask)[0].item<double>() ==
              doctest::Approx(10 * std::log10(255.0 * 255.0 / value)).epsilon(1e-12));
    }
  }
  // NaN propagates as in the tensor definition (and scikit-image): the metric is NaN, not a number.
  at::Tensor with_nan = pred01.to(at::kFloat).clone();
  with_nan.index_put_({0, 1, 4, 4}, std::nan(""));
  CHECK(std::isnan(metrics::ssim(with_nan, ref01.to(at::kFloat), {}, {})[0].item<double>()));
  CHECK(std::isnan(metrics::psnr(with_nan, ref01.to(at::kFloat), {}, {})[0].item<double>()));
}

TEST_CASE("scipy 'reflect' borders: half-sample symmetric, folding repeatedly for tiny images") {
  CHECK(metrics::reflect_index(-1, 5) == 0);
  CHECK(metrics::reflect_index(-2, 5) == 1);
  CHECK(metrics::reflect_index(5, 5) == 4);
  CHECK(metrics::reflect_index(6, 5) == 3);
  CHECK(metrics::reflect_index(-6, 5) == 4);
  CHECK(metrics::reflect_index(11, 5) == 1);
  CHECK(metrics::reflect_index(-3, 2) == 1);
}

TEST_CASE("ssim and psnr on CUDA equal the CPU values (skipped without a GPU)") {
  if (!at::hasCUDA()) {
    MESSAGE("SKIPPED: no CUDA device; the CUDA path of the pixel metrics was not exercised");
    return;
  }
  const at::Tensor ref = test_image(96, 80, 3), pred = test_image(96, 80, 4);
  const at::Tensor mask = (at::rand({1, 1, 96, 80}) > 0.7).to(at::kFloat);
  for (Region region : {Region::Full, Region::Mask, Region::BBox}) {
    for (Channels ch : {Channels::Rgb, Channels::Luma}) {
      metrics::SsimOptions o;
      o.pixels = {ch, region};
      const double cpu = metrics::ssim(pred, ref, o, mask)[0].item<double>();
      const double gpu = metrics::ssim(pred.cuda(), ref.cuda(), o, mask.cuda())[0].item<double>();
      CHECK(std::abs(cpu - gpu) < 1e-9);
      const double pc = metrics::psnr(pred, ref, {ch, region}, mask)[0].item<double>();
      const double pg = metrics::psnr(pred.cuda(), ref.cuda(), {ch, region}, mask.cuda())[0].item<double>();
      CHECK(std::abs(pc - pg) < 1e-9);
    }
  }
}
