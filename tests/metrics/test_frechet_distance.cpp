// Fréchet distance against pytorch-fid 0.3 / scipy 1.10 on the conformance feature sets (README 2a).
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "metrics/error.h"
#include "metrics/fid.h"
#include "metrics/frechet_distance.h"
#include "model/io/safetensors.h"
#include "model/log.h"
#include "tests/conformance_fixture.h"

namespace fs = std::filesystem;
using osor::metrics::SqrtmMethod;

namespace {

double rel(double value, double reference) { return std::abs(value - reference) / std::abs(reference); }

// The Fréchet distance case `id` of the fixture set (fid/expected.json frechet_distance[], its features in the
// file the case names) against pytorch-fid: the statistics, the distance by both methods and in both argument
// orders, and each term of the formula.
void check_case(const fs::path& conf, const std::string& id) {
  const auto cases = osor::test::read_fixture_json(conf / "fid" / "expected.json").at("frechet_distance");
  const nlohmann::json* found = nullptr;
  for (const auto& c : cases)
    if (c.at("id") == id) found = &c;
  REQUIRE_MESSAGE(found != nullptr, "fid/expected.json has no frechet_distance case " << id);
  const nlohmann::json& expected = *found;
  const auto tensors = osor::model::SafetensorsFile::open(conf / expected.at("file").get<std::string>());
  const auto s1 = osor::metrics::gaussian_statistics(tensors.tensor("x1"), "x1");
  const auto s2 = osor::metrics::gaussian_statistics(tensors.tensor("x2"), "x2");
  // The statistics themselves, against the F64 mu/sigma that pytorch-fid computed.
  CHECK(at::allclose(s1.mean, tensors.tensor("mu1"), 1e-12, 1e-12));
  CHECK(at::allclose(s2.mean, tensors.tensor("mu2"), 1e-12, 1e-12));
  if (tensors.contains("sigma1")) {
    CHECK(at::allclose(s1.covariance, tensors.tensor("sigma1"), 1e-12, 1e-12));
    CHECK(at::allclose(s2.covariance, tensors.tensor("sigma2"), 1e-12, 1e-12));
  }
  // README 2a: full-rank covariances to 1e-9, singular ones (n <= d: rank n-1 < d) to 1e-6 relative.
  const int64_t d = expected.at("dim").get<int64_t>();
  const bool singular = expected.at("n1").get<int64_t>() <= d || expected.at("n2").get<int64_t>() <= d;
  const double tolerance = singular ? osor::test::readme_tolerance::kFrechetSingular
                                    : osor::test::readme_tolerance::kFrechetFullRank;
  const double reference = expected.at("fid").get<double>();
  const auto terms = osor::metrics::frechet_terms(s1, s2, SqrtmMethod::Sqrtm);
  const double eigh = osor::metrics::frechet_distance(s1, s2, SqrtmMethod::Eigh);
  const double swapped = osor::metrics::frechet_distance(s2, s1, SqrtmMethod::Sqrtm);
  MESSAGE(id << ": fid " << terms.value << " vs " << reference << " rel " << rel(terms.value, reference)
             << " (tolerance " << tolerance << (singular ? ", singular" : "") << "); eigh rel " << rel(eigh, reference)
             << "; swapped rel " << rel(swapped, reference));
  CHECK(rel(terms.value, reference) <= tolerance);
  CHECK(rel(eigh, reference) <= tolerance);
  CHECK(rel(swapped, reference) <= tolerance);
  const auto& t = expected.at("terms");
  CHECK(rel(terms.mean_term, t.at("mean_term").get<double>()) <= 1e-12);
  CHECK(rel(terms.trace1, t.at("trace_sigma1").get<double>()) <= 1e-12);
  CHECK(rel(terms.trace2, t.at("trace_sigma2").get<double>()) <= 1e-12);
  // pytorch-fid's eps path (1e-6 I added to both sigmas) is taken exactly where the reference took it.
  CHECK(terms.eps_offset_used == t.at("eps_offset_path_taken").get<bool>());
  CHECK(terms.max_imaginary < 1e-3);  // where pytorch-fid would raise
}

}  // namespace

TEST_CASE("conformance: fid/fd_d64 frechet distance matches pytorch-fid") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/fd_d64.safetensors");
  check_case(conf, "fd_d64");
}

TEST_CASE("conformance: fid/fd_d256 frechet distance matches pytorch-fid") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/fd_d256.safetensors");
  check_case(conf, "fd_d256");
}

TEST_CASE("conformance: fid/fd_d2048 frechet distance matches pytorch-fid on singular covariances") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/fd_d2048.safetensors");
  const auto start = std::chrono::steady_clock::now();
  check_case(conf, "fd_d2048");
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
  osor::metrics::GaussianStatistics a, b;
  a.mean = b.mean = at::zeros({2}, at::kDouble);
  a.covariance = at::eye(2, at::kDouble);
  b.covariance = at::diag(at::tensor({1.0, -4.0}, at::kDouble));
  a.count = b.count = 10;
  // pytorch-fid's ValueError("Imaginary component {m}"): the metric and the value in the message.
  CHECK_THROWS_WITH_AS(osor::metrics::frechet_distance(a, b),
                       doctest::Contains("Fréchet distance (FID): imaginary component 2 in sqrtm(S1 S2), above the "
                                         "1e-3 where pytorch-fid raises"),
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

TEST_CASE("frechet distance: non-finite 2048-d features (N=10) fail at once, naming the set and the first value") {
  // Before the check, Eigen's eigensolver spent minutes on the NaN covariance of this set before failing.
  at::manual_seed(5);
  const at::Tensor good = at::rand({10, 2048}, at::kFloat);
  at::Tensor nan_set = good.clone();
  nan_set[3][17].fill_(std::numeric_limits<double>::quiet_NaN());
  nan_set[8][2].fill_(std::numeric_limits<double>::quiet_NaN());
  CHECK_THROWS_WITH_AS(osor::metrics::gaussian_statistics(nan_set, "predictions"),
                       doctest::Contains("Fréchet distance: predictions: features have 2 non-finite values (first: "
                                         "NaN at row 3, column 17 of [10,2048]); the statistics need finite features"),
                       osor::MetricError);
  // Through the FID metric, with the bad values in the second set; float64 features and an infinity.
  at::Tensor inf_set = good.to(at::kDouble);
  inf_set[0][2047].fill_(-std::numeric_limits<double>::infinity());
  const auto fid = osor::metrics::make_fid_metric(osor::metrics::NetworkOptions{});
  osor::log::set_level(osor::log::Level::Quiet);  // the predictions' N < D warning
  CHECK_THROWS_WITH_AS(fid->evaluate(good, inf_set),
                       doctest::Contains("Fréchet distance: references: features have 1 non-finite value (first: "
                                         "-Inf at row 0, column 2047 of [10,2048])"),
                       osor::MetricError);
  osor::log::set_level(osor::log::Level::Warning);
}

TEST_CASE("frechet distance: non-finite statistics given directly are refused before any eigen-solution") {
  osor::log::set_level(osor::log::Level::Quiet);
  at::manual_seed(6);
  const auto good = osor::metrics::gaussian_statistics(at::rand({40, 16}, at::kDouble), "references");
  CHECK(good.label == "references");
  auto nan_mean = good;
  nan_mean.label.clear();
  nan_mean.mean = good.mean.clone();
  nan_mean.mean[5].fill_(std::numeric_limits<double>::quiet_NaN());
  // Without the check the NaN mean came out as a NaN distance, without an error.
  CHECK_THROWS_WITH_AS(osor::metrics::frechet_distance(good, nan_mean),
                       "Fréchet distance: second set: mean has 1 non-finite value (first: NaN at index 5 of [16])",
                       osor::MetricError);
  auto inf_cov = good;
  inf_cov.label = "predictions";
  inf_cov.covariance = good.covariance.clone();
  inf_cov.covariance[2][3].fill_(std::numeric_limits<double>::infinity());
  CHECK_THROWS_WITH_AS(osor::metrics::frechet_distance(inf_cov, good, SqrtmMethod::Eigh),
                       "Fréchet distance: predictions: covariance has 1 non-finite value (first: +Inf at row 2, "
                       "column 3 of [16,16])",
                       osor::MetricError);
  // The low-rank factor (N < D) is checked too.
  auto few = osor::metrics::gaussian_statistics(at::rand({5, 16}, at::kDouble), "predictions");
  REQUIRE(few.factor.defined());
  few.factor = few.factor.clone();
  few.factor[4][0].fill_(std::numeric_limits<double>::quiet_NaN());
  CHECK_THROWS_WITH_AS(osor::metrics::frechet_distance(few, good),
                       doctest::Contains("predictions: low-rank factor has 1 non-finite value (first: NaN at row 4"),
                       osor::MetricError);
  osor::log::set_level(osor::log::Level::Warning);
}
