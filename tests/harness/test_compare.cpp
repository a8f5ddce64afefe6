// osor compare's logic on constructed run records: regressions, improvements, tolerances, noise
// whose interval includes zero, set-level metrics, convention mismatches, missing samples.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "harness/compare.h"
#include "harness/error.h"

using namespace osor::harness;

namespace {

// One bench ("sample"), one method ("m"), object masks; per-image psnr (higher is better) and lpips
// (lower is better) from the given per-sample values, and set-level fid.
RunRecord make_run(const std::vector<double>& psnr, const std::vector<double>& lpips, double fid,
                   const std::string& psnr_convention = "psnr[skimage-0.19,rgb,full]") {
  RunRecord run;
  run.run_id = "r";
  run.metrics = {{"psnr", psnr_convention, 1, true, true},
                 {"lpips", "lpips[v0.1,alex]", 1, false, true},
                 {"fid", "fid[pytorch-fid,sqrtm]", 1, false, false}};
  double psnr_sum = 0, lpips_sum = 0;
  for (size_t i = 0; i < psnr.size(); ++i) {
    SampleRecord s;
    s.bench = "sample";
    s.method = "m";
    s.masks = "object";
    s.id = "s" + std::to_string(100 + i);
    s.metrics = {{"psnr", psnr[i]}, {"lpips", lpips[i]}};
    psnr_sum += psnr[i];
    lpips_sum += lpips[i];
    run.samples.push_back(s);
  }
  const int n = static_cast<int>(psnr.size());
  run.aggregates.push_back({"sample", "m", "object", "psnr", psnr_convention, psnr_sum / n, 0, std::nullopt, n, 0, ""});
  run.aggregates.push_back({"sample", "m", "object", "lpips", "lpips[v0.1,alex]", lpips_sum / n, 0, std::nullopt, n, 0, ""});
  run.aggregates.push_back({"sample", "m", "object", "fid", "fid[pytorch-fid,sqrtm]", fid, 0, std::nullopt, n, 0, ""});
  return run;
}

// Deterministic spread: sample i of 40 around `center`, in +-spread.
std::vector<double> spread(double center, double spread_width, size_t n = 40) {
  std::vector<double> v;
  for (size_t i = 0; i < n; ++i)
    v.push_back(center + spread_width * (static_cast<double>((i * 7) % n) / static_cast<double>(n - 1) - 0.5));
  return v;
}

std::vector<double> shifted(std::vector<double> v, double by) {
  for (auto& x : v) x += by;
  return v;
}

const CompareRow& row(const CompareResult& r, const std::string& metric) {
  for (const auto& x : r.rows)
    if (x.metric == metric) return x;
  FAIL("no row for " << metric);
  throw std::logic_error("unreachable");
}

const std::vector<double> kPsnr = spread(28.0, 4.0);
const std::vector<double> kLpips = spread(0.2, 0.1);

}  // namespace

TEST_CASE("compare: the same run is unchanged everywhere, exit flag clear") {
  const RunRecord base = make_run(kPsnr, kLpips, 12.0);
  const CompareResult r = compare_runs(base, base);
  REQUIRE(r.rows.size() == 3);
  CHECK_FALSE(r.regressed());
  CHECK(r.warnings.empty());
  for (const auto& x : r.rows) CHECK(x.status == CompareStatus::Unchanged);
  CHECK(row(r, "psnr").n == 40);
  REQUIRE(row(r, "psnr").ci95.has_value());
  CHECK(row(r, "psnr").ci95->first == 0.0);
  CHECK(row(r, "psnr").ci95->second == 0.0);
  CHECK(row(r, "psnr").per_image);
  CHECK_FALSE(row(r, "fid").per_image);
  CHECK_FALSE(row(r, "fid").ci95.has_value());
}

TEST_CASE("compare: a constructed regression is flagged, with the interval below zero") {
  // PSNR drops 0.5 dB on every sample (plus noise), LPIPS rises by 0.03, FID rises by 3.
  std::vector<double> psnr = shifted(kPsnr, -0.5), lpips = shifted(kLpips, 0.03);
  for (size_t i = 0; i < psnr.size(); ++i) psnr[i] += (i % 2 ? 0.1 : -0.1);
  const CompareResult r = compare_runs(make_run(kPsnr, kLpips, 12.0), make_run(psnr, lpips, 15.0));
  CHECK(r.regressed());
  const auto& p = row(r, "psnr");
  CHECK(p.status == CompareStatus::Regressed);
  CHECK(p.delta == doctest::Approx(-0.5).epsilon(1e-9));
  CHECK(p.base == doctest::Approx(28.0));
  REQUIRE(p.ci95.has_value());
  CHECK(p.ci95->second < 0);
  CHECK(p.ci95->first < p.delta);
  CHECK(p.ci95->second > p.delta);
  CHECK(row(r, "lpips").status == CompareStatus::Regressed);  // lower is better: a rise is worse
  CHECK(row(r, "lpips").delta == doctest::Approx(0.03));
  CHECK(row(r, "fid").status == CompareStatus::Regressed);
  CHECK(row(r, "fid").delta == doctest::Approx(3.0));
  // The table says so.
  const std::string table = format_compare_table(r);
  CHECK(table.find("REGRESSED") != std::string::npos);
  CHECK(table.find("3 of 3 comparisons regressed") != std::string::npos);
  const auto j = to_json(r);
  CHECK(j["regressed"] == true);
  CHECK(j["rows"][0]["status"] == "regressed");
}

TEST_CASE("compare: an improvement is not a regression") {
  const CompareResult r =
      compare_runs(make_run(kPsnr, kLpips, 12.0), make_run(shifted(kPsnr, 0.4), shifted(kLpips, -0.02), 10.0));
  CHECK_FALSE(r.regressed());
  CHECK(row(r, "psnr").status == CompareStatus::Improved);
  CHECK(row(r, "lpips").status == CompareStatus::Improved);
  CHECK(row(r, "fid").status == CompareStatus::Improved);
}

TEST_CASE("compare: a drop within the tolerance passes, the same drop without tolerance fails") {
  const RunRecord base = make_run(kPsnr, kLpips, 12.0);
  const RunRecord next = make_run(shifted(kPsnr, -0.05), shifted(kLpips, 0.001), 12.5);
  CompareOptions options;
  options.tolerance = parse_tolerances("psnr=-0.1, lpips=0.002,fid=1");
  const CompareResult within = compare_runs(base, next, options);
  CHECK_FALSE(within.regressed());
  CHECK(row(within, "psnr").status == CompareStatus::WithinTolerance);
  CHECK(row(within, "psnr").tolerance == doctest::Approx(0.1));
  CHECK(row(within, "lpips").status == CompareStatus::WithinTolerance);
  CHECK(row(within, "fid").status == CompareStatus::WithinTolerance);
  CHECK(within.warnings.empty());

  const CompareResult strict = compare_runs(base, next);
  CHECK(strict.regressed());
  CHECK(row(strict, "psnr").status == CompareStatus::Regressed);
}

TEST_CASE("compare: a noisy change whose interval includes zero is not a regression") {
  // Deltas of +-1 dB alternating, mean -0.025: worse beyond a zero tolerance, but not significant.
  std::vector<double> psnr = kPsnr;
  for (size_t i = 0; i < psnr.size(); ++i) psnr[i] += (i % 2 ? 1.0 : -1.05);
  const CompareResult r = compare_runs(make_run(kPsnr, kLpips, 12.0), make_run(psnr, kLpips, 12.0));
  CHECK_FALSE(r.regressed());
  const auto& p = row(r, "psnr");
  CHECK(p.delta == doctest::Approx(-0.025));
  CHECK(p.status == CompareStatus::NotSignificant);
  REQUIRE(p.ci95.has_value());
  CHECK(p.ci95->first < 0);
  CHECK(p.ci95->second > 0);
}

TEST_CASE("compare: different conventions or versions are refused with a message naming both") {
  const RunRecord base = make_run(kPsnr, kLpips, 12.0);
  CHECK_THROWS_WITH_AS(compare_runs(base, make_run(kPsnr, kLpips, 12.0, "psnr[skimage-0.19,y,full]")),
                       "metric psnr: convention differs (base 'psnr[skimage-0.19,rgb,full]', new "
                       "'psnr[skimage-0.19,y,full]'); values of different conventions are not comparable",
                       osor::HarnessError);
  RunRecord v2 = base;
  v2.metrics[2].version = 2;
  CHECK_THROWS_WITH_AS(compare_runs(base, v2), doctest::Contains("metric fid: version differs (base v1, new v2)"),
                       osor::HarnessError);
}

TEST_CASE("compare: methods and metrics NEW lacks are listed as missing, samples it lacks are warnings") {
  const RunRecord base = make_run(kPsnr, kLpips, 12.0);
  RunRecord next = make_run(kPsnr, kLpips, 12.0);
  next.samples.resize(30);                 // 10 samples missing
  next.samples[0].status = "failed";       // 1 newly failed
  next.samples[1].metrics["psnr"] = 0.0;   // would be a huge drop, but ...
  next.samples[1].status = "failed";       // ... failed samples are excluded
  next.aggregates.erase(next.aggregates.begin() + 1);  // no lpips
  RunRecord extra = base;                  // a method only BASE has
  SampleRecord s = base.samples[0];
  s.method = "gone";
  extra.samples.push_back(s);
  extra.aggregates.push_back({"sample", "gone", "object", "psnr", "", 1.0, 0, std::nullopt, 1, 0, ""});
  const CompareResult r = compare_runs(extra, next);
  CHECK_FALSE(r.regressed());
  CHECK(row(r, "psnr").n == 28);
  CHECK(row(r, "psnr").status == CompareStatus::Unchanged);
  std::string warnings;
  for (const auto& w : r.warnings) warnings += w + "\n";
  CHECK(warnings.find("NEW lacks 10 of the 40 samples BASE had for sample / m / object") != std::string::npos);
  CHECK(warnings.find("2 samples of sample / m / object failed in NEW but not in BASE") != std::string::npos);
  std::string missing;
  for (const auto& m : r.missing) missing += m + "\n";
  CHECK(missing.find("NEW has no lpips for sample / m / object") != std::string::npos);
  CHECK(missing.find("NEW has no results for sample / gone / object") != std::string::npos);
  CHECK(warnings.find("NEW has no") == std::string::npos);
}

TEST_CASE("compare: --method-map matches a renamed method") {
  const RunRecord base = make_run(kPsnr, kLpips, 12.0);
  RunRecord next = make_run(shifted(kPsnr, -1.0), kLpips, 12.0);
  for (auto& s : next.samples) s.method = "m-v2";
  for (auto& a : next.aggregates) a.method = "m-v2";
  CHECK(compare_runs(base, next).rows.empty());
  CompareOptions options;
  options.method_map = parse_method_map("m=m-v2");
  const CompareResult r = compare_runs(base, next, options);
  REQUIRE(r.rows.size() == 3);
  CHECK(row(r, "psnr").method == "m-v2");
  CHECK(row(r, "psnr").base_method == "m");
  CHECK(row(r, "psnr").status == CompareStatus::Regressed);
}

TEST_CASE("compare: infinite PSNR pairs (identical images) are no change, inf to finite is a regression") {
  std::vector<double> base_psnr = kPsnr, same = kPsnr;
  const double inf = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < 10; ++i) base_psnr[i] = same[i] = inf;
  CHECK(row(compare_runs(make_run(base_psnr, kLpips, 1), make_run(same, kLpips, 1)), "psnr").status ==
        CompareStatus::Unchanged);
  const std::vector<double> lost = kPsnr;  // 10 samples no longer identical to the ground truth
  const CompareResult r = compare_runs(make_run(base_psnr, kLpips, 1), make_run(lost, kLpips, 1));
  CHECK(row(r, "psnr").delta == -inf);
  CHECK(row(r, "psnr").status == CompareStatus::Regressed);
}

TEST_CASE("paired bootstrap: deterministic for a seed, exact for constant deltas, close to the normal interval") {
  const std::vector<double> constant(25, -0.3);
  const auto c = bootstrap_mean_ci(constant, 500, 0);
  CHECK(c.first == doctest::Approx(-0.3));
  CHECK(c.second == doctest::Approx(-0.3));
  std::vector<double> deltas;
  for (int i = 0; i < 400; ++i) deltas.push_back((i % 2 ? 1.0 : -1.0) * (1 + (i % 5)) * 0.1);  // sd ~0.33
  const auto a = bootstrap_mean_ci(deltas, 2000, 7), b = bootstrap_mean_ci(deltas, 2000, 7);
  CHECK(a == b);
  CHECK(bootstrap_mean_ci(deltas, 2000, 8) != a);
  // Against the normal approximation mean +- 1.96 sd/sqrt(n), to 15%.
  double sum = 0, sq = 0;
  for (double d : deltas) sum += d;
  const double mean = sum / deltas.size();
  for (double d : deltas) sq += (d - mean) * (d - mean);
  const double se = std::sqrt(sq / deltas.size()) / std::sqrt(static_cast<double>(deltas.size()));
  CHECK(a.first == doctest::Approx(mean - 1.96 * se).epsilon(0.15).scale(0));
  CHECK(a.second == doctest::Approx(mean + 1.96 * se).epsilon(0.15).scale(0));
}

TEST_CASE("compare: --tol parsing, and a tolerance with the sign of an improvement is read as its magnitude") {
  CHECK(parse_tolerances("psnr=-0.1,ssim=-0.002") == std::map<std::string, double>{{"psnr", -0.1}, {"ssim", -0.002}});
  CHECK(parse_tolerances("").empty());
  CHECK_THROWS_WITH_AS(parse_tolerances("psnr"), doctest::Contains("'psnr' is not METRIC=CHANGE"), osor::HarnessError);
  CHECK_THROWS_AS(parse_tolerances("psnr=abc"), osor::HarnessError);
  CHECK_THROWS_AS(parse_method_map("a"), osor::HarnessError);
  CompareOptions options;
  options.tolerance = {{"psnr", 0.1}, {"nope", 1}};
  const CompareResult r =
      compare_runs(make_run(kPsnr, kLpips, 1), make_run(shifted(kPsnr, -0.05), kLpips, 1), options);
  CHECK(row(r, "psnr").status == CompareStatus::WithinTolerance);
  std::string warnings;
  for (const auto& w : r.warnings) warnings += w + "\n";
  CHECK(warnings.find("--tol psnr=0.1: psnr is higher-is-better; read as an allowed drop of 0.1") != std::string::npos);
  CHECK(warnings.find("--tol nope: no such metric compared") != std::string::npos);
}
