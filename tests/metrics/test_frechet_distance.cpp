// Fréchet distance against pytorch-fid 0.3 / scipy 1.10 on the conformance feature sets (README 2a).
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "metrics/error.h"
#include "metrics/frechet_distance.h"
#include "model/io/safetensors.h"
#include "model/log.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::metrics::SqrtmMethod;

namespace {

nlohmann::json fid_case(const std::string& id) {
  std::ifstream in(osor::test::fixtures_dir() / "set_metrics" / "fid_expected.json");
  const auto expected = nlohmann::json::parse(in);
  for (const auto& c : expected["frechet_distance"])
    if (c["id"] == id) return c;
  FAIL("no case " << id);
  return {};
}

double rel(double value, double reference) { return std::abs(value - reference) / std::abs(reference); }

void check_case(const fs::path& file, const std::string& id, double tolerance) {
  const auto expected = fid_case(id);
  const auto tensors = osor::model::SafetensorsFile::open(file);
  const auto s1 = osor::metrics::gaussian_statistics(tensors.tensor("x1"), "x1");
  const auto s2 = osor::metrics::gaussian_statistics(tensors.tensor("x2"), "x2");
  // The statistics themselves, against the F64 mu/sigma that pytorch-fid computed.
  CHECK(at::allclose(s1.mean, tensors.tensor("mu1"), 1e-12, 1e-12));
  CHECK(at::allclose(s2.mean, tensors.tensor("mu2"), 1e-12, 1e-12));
  if (tensors.contains("sigma1")) {
    CHECK(at::allclose(s1.covariance, tensors.tensor("sigma1"), 1e-12, 1e-12));
    CHECK(at::allclose(s2.covariance, tensors.tensor("sigma2"), 1e-12, 1e-12));
  }
  const double reference = expected["fid"].get<double>();
  const auto terms = osor::metrics::frechet_terms(s1, s2, SqrtmMethod::Sqrtm);
  const double eigh = osor::metrics::frechet_distance(s1, s2, SqrtmMethod::Eigh);
  const double swapped = osor::metrics::frechet_distance(s2, s1, SqrtmMethod::Sqrtm);
  MESSAGE(id << ": fid " << terms.value << " vs " << reference << " rel " << rel(terms.value, reference)
             << " (tolerance " << tolerance << "); eigh rel " << rel(eigh, reference) << "; swapped rel "
             << rel(swapped, reference));
  CHECK(rel(terms.value, reference) <= tolerance);
  CHECK(rel(eigh, reference) <= tolerance);
  CHECK(rel(swapped, reference) <= tolerance);
  CHECK(rel(terms.mean_term, expected["terms"]["mean_term"].get<double>()) <= 1e-12);
  CHECK(rel(terms.trace1, expected["terms"]["trace_sigma1"].get<double>()) <= 1e-12);
  CHECK(rel(terms.trace2, expected["terms"]["trace_sigma2"].get<double>()) <= 1e-12);
  CHECK_FALSE(terms.eps_offset_used);  // pytorch-fid's eps path is not taken on these sets
  CHECK(terms.max_imaginary < 1e-3);
}

}  // namespace

TEST_CASE("frechet distance matches pytorch-fid on fd_d64 (1e-9 relative)") {
  check_case(osor::test::fixtures_dir() / "set_metrics" / "fd_d64.safetensors", "fd_d64", 1e-9);
}

TEST_CASE("frechet distance matches pytorch-fid on fd_d256 (1e-9 relative)") {
  const fs::path dir = osor::test::shared_conformance_dir();
  if (dir.empty()) {
    MESSAGE("SKIPPED: shared conformance folder not found ($OSOR_CONFORMANCE_DIR)");
    return;
  }
  check_case(dir / "fid" / "fd_d256.safetensors", "fd_d256", 1e-9);
}

TEST_CASE("frechet distance matches pytorch-fid on the singular fd_d2048 (1e-6 relative)") {
  const fs::path dir = osor::test::shared_conformance_dir();
  if (dir.empty()) {
    MESSAGE("SKIPPED: shared conformance folder not found ($OSOR_CONFORMANCE_DIR)");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  check_case(dir / "fid" / "fd_d2048.safetensors", "fd_d2048", 1e-6);
  MESSAGE("fd_d2048: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
}

TEST_CASE("gaussian statistics are the same from float32 and float64 features") {
  at::manual_seed(3);
  const at::Tensor x = at::rand({40, 8}, at::kFloat);
  const auto a = osor::metrics::gaussian_statistics(x);
  const auto b = osor::metrics::gaussian_statistics(x.to(at::kDouble));
  CHECK(at::equal(a.mean, b.mean));
  CHECK(at::equal(a.covariance, b.covariance));
  CHECK((a.mean.scalar_type() == at::kDouble));
  CHECK(a.count == 40);
  // Equal covariances: FD = |mu1 - mu2|^2 (pytorch-fid's own unit test), both methods.
  auto shifted = a;
  shifted.mean = a.mean + 0.5;
  CHECK(osor::metrics::frechet_distance(a, shifted) == doctest::Approx(8 * 0.25).epsilon(1e-9));
  CHECK(osor::metrics::frechet_distance(a, shifted, SqrtmMethod::Eigh) == doctest::Approx(2.0).epsilon(1e-9));
}

TEST_CASE("frechet distance errors name the problem") {
  const at::Tensor x = at::rand({10, 4}, at::kFloat);
  const auto s4 = osor::metrics::gaussian_statistics(x);
  const auto s3 = osor::metrics::gaussian_statistics(at::rand({10, 3}, at::kFloat));
  CHECK_THROWS_WITH_AS(osor::metrics::frechet_distance(s4, s3), doctest::Contains("feature dimensions differ (4 vs 3)"),
                       osor::MetricError);
  CHECK_THROWS_WITH_AS(osor::metrics::gaussian_statistics(x.slice(0, 0, 1), "pred"),
                       doctest::Contains("pred: 1 sample(s); a covariance needs at least 2"), osor::MetricError);
  CHECK_THROWS_WITH_AS(osor::metrics::parse_sqrtm_method("schur"), doctest::Contains("known: sqrtm, eigh"),
                       osor::MetricError);
  // A covariance with a clearly negative eigenvalue: sqrtm would have an imaginary part of 2.
  osor::metrics::GaussianStatistics a{at::zeros({2}, at::kDouble), at::eye(2, at::kDouble), 10};
  osor::metrics::GaussianStatistics b{at::zeros({2}, at::kDouble),
                                      at::diag(at::tensor({1.0, -4.0}, at::kDouble)), 10};
  CHECK_THROWS_WITH_AS(osor::metrics::frechet_distance(a, b), doctest::Contains("imaginary component"),
                       osor::MetricError);
  // The plain eigenvalue method clamps instead: tr S1 + tr S2 - 2 Σ sqrt(max(λ,0)) = 2 + (1 - 4) - 2·1 = -3.
  CHECK(osor::metrics::frechet_distance(a, b, SqrtmMethod::Eigh) == doctest::Approx(-3.0));
}

TEST_CASE("the low-rank route (N < D) gives the full eigenvalue route's value") {
  osor::log::set_level(osor::log::Level::Quiet);
  at::manual_seed(11);
  const at::Tensor mixing = at::randn({48, 48}, at::kDouble);
  const auto features = [&](int64_t n) { return at::relu(at::mm(at::randn({n, 48}, at::kDouble), mixing) + 0.5); };
  const auto few1 = osor::metrics::gaussian_statistics(features(20));
  const auto few2 = osor::metrics::gaussian_statistics(features(30));
  const auto many = osor::metrics::gaussian_statistics(features(400));
  REQUIRE(few1.factor.defined());
  REQUIRE_FALSE(many.factor.defined());
  const auto full = [](osor::metrics::GaussianStatistics s) {
    s.factor = at::Tensor();  // force the D×D route
    return s;
  };
  for (const auto& [a, b] : {std::pair{few1, few2}, std::pair{few1, many}, std::pair{many, few2}}) {
    const double low_rank = osor::metrics::frechet_distance(a, b, SqrtmMethod::Eigh);
    const double dense = osor::metrics::frechet_distance(full(a), full(b), SqrtmMethod::Eigh);
    MESSAGE("low-rank " << low_rank << " vs D×D " << dense << ": rel " << rel(low_rank, dense));
    // The D×D route adds the square roots of the zero eigenvalues' rounding noise (~1e-8 each here).
    CHECK(rel(low_rank, dense) <= 1e-6);
  }
  osor::log::set_level(osor::log::Level::Warning);
}
