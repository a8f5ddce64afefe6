// The resizers against Pillow's own outputs (tests/fixtures/networks/pil_resize.safetensors, made by
// make_pil_resize_fixture.py with Pillow 9.4.0) and PyTorch bilinear against its written definition.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <sstream>

#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "tests/test_paths.h"

using osor::metrics::PilFilter;
using osor::model::SafetensorsFile;

namespace {

PilFilter filter_named(const std::string& name) {
  if (name == "bicubic") return PilFilter::Bicubic;
  if (name == "lanczos") return PilFilter::Lanczos;
  return PilFilter::Bilinear;
}

// "u8/bicubic/11x16" → filter, h, w.
void parse_key(const std::string& key, std::string& filter, int64_t& h, int64_t& w) {
  const size_t a = key.find('/'), b = key.find('/', a + 1), x = key.find('x', b + 1);
  filter = key.substr(a + 1, b - a - 1);
  h = std::stoll(key.substr(b + 1, x - b - 1));
  w = std::stoll(key.substr(x + 1));
}

}  // namespace

TEST_CASE("pil_resize_u8 gives Pillow's bytes exactly (bicubic, lanczos, bilinear, down, up, one axis)") {
  const SafetensorsFile f = SafetensorsFile::open(osor::test::fixtures_dir() / "networks" / "pil_resize.safetensors");
  const at::Tensor in = f.tensor("in_u8").permute({2, 0, 1}).unsqueeze(0);  // HWC → NCHW
  int cases = 0;
  for (const auto& key : f.names()) {
    if (key.rfind("u8/", 0) != 0) continue;
    std::string filter;
    int64_t h = 0, w = 0;
    parse_key(key, filter, h, w);
    CAPTURE(key);
    const at::Tensor expected = f.tensor(key).permute({2, 0, 1}).unsqueeze(0);
    const at::Tensor got = osor::metrics::pil_resize_u8(in, h, w, filter_named(filter));
    REQUIRE((got.sizes() == expected.sizes()));
    const int64_t max_diff = (got.to(at::kInt) - expected.to(at::kInt)).abs().max().item<int64_t>();
    CHECK(max_diff == 0);  // exact: Pillow's fixed point reproduced
    // [C,H,W] input gives the same bytes.
    CHECK(at::equal(osor::metrics::pil_resize_u8(in[0], h, w, filter_named(filter)), got[0]));
    ++cases;
  }
  CHECK(cases == 8);
}

TEST_CASE("pil_resize_float matches Pillow mode 'F' (clean-fid's resize) to float32 rounding") {
  const SafetensorsFile f = SafetensorsFile::open(osor::test::fixtures_dir() / "networks" / "pil_resize.safetensors");
  const at::Tensor in = f.tensor("in_f32").view({1, 1, 23, 37});
  int cases = 0;
  for (const auto& key : f.names()) {
    if (key.rfind("f32/", 0) != 0) continue;
    std::string filter;
    int64_t h = 0, w = 0;
    parse_key(key, filter, h, w);
    CAPTURE(key);
    const at::Tensor expected = f.tensor(key).view({1, 1, h, w});
    const at::Tensor got = osor::metrics::pil_resize_float(in, h, w, filter_named(filter));
    // Same operations in the same order: expected bit-identical; allow 1 ulp of values up to ~300.
    const double max_diff = (got - expected).abs().max().item<double>();
    CAPTURE(max_diff);
    CHECK(max_diff <= 3e-5);
    ++cases;
  }
  CHECK(cases == 3);
}

TEST_CASE("torch_bilinear_resize: align_corners=False without antialias follows the written definition") {
  at::manual_seed(7);
  const at::Tensor x = at::rand({2, 3, 13, 21}, at::kDouble);
  for (auto [oh, ow] : std::vector<std::pair<int64_t, int64_t>>{{29, 9}, {5, 40}, {13, 21}}) {
    CAPTURE(oh);
    CAPTURE(ow);
    // src = max((dst+0.5)·in/out − 0.5, 0), i1 = min(i0+1, in−1), per axis.
    auto axis = [](int64_t in, int64_t out) {
      at::Tensor m = at::zeros({out, in}, at::kDouble);
      for (int64_t d = 0; d < out; ++d) {
        const double src = std::max((d + 0.5) * in / out - 0.5, 0.0);
        const int64_t i0 = static_cast<int64_t>(src), i1 = std::min(i0 + 1, in - 1);
        const double l = src - i0;
        m[d][i0] += 1 - l;
        m[d][i1] += l;
      }
      return m;
    };
    const at::Tensor expected = at::matmul(at::matmul(axis(13, oh), x), axis(21, ow).t());
    const at::Tensor got = osor::metrics::torch_bilinear_resize(x, oh, ow, false);
    CHECK((got - expected).abs().max().item<double>() < 1e-12);
  }
  // Antialiased up-sampling equals plain bilinear; down-sampling averages (a constant stays constant).
  const at::Tensor up_aa = osor::metrics::torch_bilinear_resize(x, 26, 42, true);
  CHECK((up_aa - osor::metrics::torch_bilinear_resize(x, 26, 42, false)).abs().max().item<double>() < 1e-12);
  const at::Tensor c = at::full({1, 3, 64, 80}, 0.25);
  CHECK((osor::metrics::torch_bilinear_resize(c, 7, 9, true) - 0.25).abs().max().item<double>() < 1e-6);
}
