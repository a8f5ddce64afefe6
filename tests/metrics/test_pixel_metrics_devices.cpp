// OpenCV-free checks of the pixel metrics: the float64 CPU kernel against the independent tensor-op
// path (the one CUDA uses), on awkward sizes, and — where a GPU is present — CUDA against CPU.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include "metrics/psnr.h"
#include "metrics/ssim.h"
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
