// CMMD's MMD estimator against the reference (google-research cmmd/distance.py via cmmd-pytorch),
// conformance README 4a: float64 to 1e-9 relative, float32 kernels with double sums to 5e-6 absolute.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "metrics/error.h"
#include "metrics/mmd.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"

TEST_CASE("conformance: cmmd/mmd_embeddings mmd matches the CMMD reference on every set pair") {
  using osor::test::readme_tolerance::kMmdFloat32Kernels;
  using osor::test::readme_tolerance::kMmdFloat64;
  OSOR_REQUIRE_CONFORMANCE(conf, "cmmd/mmd_embeddings.safetensors");
  const auto expected = osor::test::read_fixture_json(conf / "cmmd" / "expected.json").at("mmd");
  const auto tensors = osor::model::SafetensorsFile::open(conf / expected.at("file").get<std::string>());
  REQUIRE(!expected.at("cases").empty());
  for (const auto& c : expected.at("cases")) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const at::Tensor x = tensors.tensor(id + "/x"), y = tensors.tensor(id + "/y");
    const double reference = c.at("mmd_f64");
    osor::metrics::MmdOptions f64;
    f64.precision = osor::metrics::MmdPrecision::Float64;
    const double v64 = osor::metrics::mmd(x, y, f64);
    const double v32 = osor::metrics::mmd(x, y);
    MESSAGE(id << ": f64 " << v64 << " rel err " << std::abs(v64 - reference) / reference << " (tol " << kMmdFloat64
               << "); f32 kernels " << v32 << " abs err " << std::abs(v32 - reference) << " (tol " << kMmdFloat32Kernels
               << ")");
    CHECK(std::abs(v64 - reference) <= kMmdFloat64 * std::abs(reference));
    CHECK(std::abs(v32 - reference) <= kMmdFloat32Kernels);
    // Symmetric in its arguments.
    CHECK(osor::metrics::mmd(y, x, f64) == doctest::Approx(v64).epsilon(1e-12));
  }
}

TEST_CASE("mmd is the biased estimator: identical sets give 0, a single pair gives 2000(1 - k)") {
  const at::Tensor x = at::tensor({0.0, 0.0, 3.0, 4.0}, at::kDouble).reshape({2, 2});
  osor::metrics::MmdOptions f64;
  f64.precision = osor::metrics::MmdPrecision::Float64;
  CHECK(osor::metrics::mmd(x, x, f64) == doctest::Approx(0.0));
  // One point each, |a-b|² = 25: 1000 (1 + 1 - 2 exp(-25/200)).
  const double k = std::exp(-25.0 / 200.0);
  CHECK(osor::metrics::mmd(x.slice(0, 0, 1), x.slice(0, 1, 2), f64) == doctest::Approx(2000 * (1 - k)).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(osor::metrics::mmd(x, at::zeros({2, 3}, at::kDouble)),
                       doctest::Contains("embedding dimensions differ (2 vs 3)"), osor::MetricError);
}

TEST_CASE("mmd refuses non-finite embeddings, naming the set, the count and the first value") {
  // Without the check a NaN embedding gave a NaN MMD and no error.
  const at::Tensor x = at::rand({4, 8}, at::kFloat);
  at::Tensor y = at::rand({5, 8}, at::kFloat);
  y[1][2].fill_(std::numeric_limits<double>::quiet_NaN());
  y[3][7].fill_(std::numeric_limits<double>::infinity());
  CHECK_THROWS_WITH_AS(osor::metrics::mmd(x, y),
                       "MMD: the second embedding set has 2 non-finite values (first: NaN at row 1, column 2 of [5,8])",
                       osor::MetricError);
  at::Tensor x64 = x.to(at::kDouble);
  x64[0][0].fill_(-std::numeric_limits<double>::infinity());
  osor::metrics::MmdOptions f64;
  f64.precision = osor::metrics::MmdPrecision::Float64;
  CHECK_THROWS_WITH_AS(osor::metrics::mmd(x64, y.to(at::kDouble), f64),
                       "MMD: the first embedding set has 1 non-finite value (first: -Inf at row 0, column 0 of [4,8])",
                       osor::MetricError);
}
