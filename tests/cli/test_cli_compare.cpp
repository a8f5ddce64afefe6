// End-to-end: `osor compare` as a CI step — exit 0 without regression, 1 on a regression, 2 on errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

osor::test::CommandResult run_osor_compare(const std::string& args) { return osor::test::run_osor("compare " + args); }

// A results.json with 30 samples of psnr (base value 30 + i/10 shifted by `psnr_shift`) and a set-level fid.
std::string write_run(const fs::path& dir, const std::string& name, double psnr_shift, double fid,
                      const std::string& psnr_convention = "psnr[skimage-0.19,rgb,full]") {
  json samples = json::array();
  double sum = 0;
  for (int i = 0; i < 30; ++i) {
    const double psnr = 30.0 + i / 10.0 + psnr_shift + (i % 2 ? 0.01 : -0.01);
    sum += psnr;
    samples.push_back({{"bench", "sample"}, {"method", "identity"}, {"masks", "object"},
                       {"id", "s" + std::to_string(i)}, {"status", "ok"}, {"error", nullptr},
                       {"output", "outputs/s.png"}, {"latency_ms", 1.0}, {"metrics", {{"psnr", psnr}}}});
  }
  const json run = {
      {"format", "osor-run/1"}, {"run_id", name}, {"created", "2026-11-28T22:00:00Z"},
      {"config", json::object()}, {"provenance", json::object()},
      {"metrics", json::array({{{"name", "psnr"}, {"convention", psnr_convention}, {"version", 1},
                                {"higher_is_better", true}, {"per_image", true}},
                               {{"name", "fid"}, {"convention", "fid[pytorch-fid,sqrtm]"}, {"version", 1},
                                {"higher_is_better", false}, {"per_image", false}}})},
      {"latency_protocol", ""}, {"samples", samples},
      {"aggregates", json::array({{{"bench", "sample"}, {"method", "identity"}, {"masks", "object"},
                                   {"metric", "psnr"}, {"convention", psnr_convention}, {"mean", sum / 30},
                                   {"std", 1.0}, {"ci95", nullptr}, {"n", 30}, {"n_failed", 0}},
                                  {{"bench", "sample"}, {"method", "identity"}, {"masks", "object"},
                                   {"metric", "fid"}, {"convention", "fid[pytorch-fid,sqrtm]"}, {"mean", fid},
                                   {"std", 0.0}, {"ci95", nullptr}, {"n", 30}, {"n_failed", 0}}})},
      {"latency", json::array()}, {"skipped_metrics", json::array()}};
  fs::create_directories(dir / name);
  std::ofstream(dir / name / "results.json") << run.dump(1);
  return (dir / name / "results.json").string();
}

}  // namespace

TEST_CASE("osor compare exits 0 on the same run and on a change within tolerance") {
  const fs::path dir = osor::test::scratch_dir("cli_compare_ok");
  const std::string base = write_run(dir, "base", 0.0, 10.0);
  const auto same = run_osor_compare(base + " " + base);
  CHECK(same.exit_code == 0);
  CHECK(same.out.find("no regression in 2 comparisons") != std::string::npos);
  CHECK(same.err.empty());

  const std::string small = write_run(dir, "small", -0.03, 10.5);
  const auto tolerated = run_osor_compare(base + " " + small + " --tol psnr=-0.05,fid=1");
  CHECK(tolerated.exit_code == 0);
  CHECK(tolerated.out.find("within tolerance") != std::string::npos);
  // The same change with no tolerance is a regression (the run folder works as well as the file).
  CHECK(run_osor_compare((dir / "base").string() + " " + (dir / "small").string()).exit_code == 1);
}

TEST_CASE("osor compare exits 1 on a regression and says which metric, in text and JSON") {
  const fs::path dir = osor::test::scratch_dir("cli_compare_regression");
  const std::string base = write_run(dir, "base", 0.0, 10.0);
  const std::string worse = write_run(dir, "worse", -0.2, 10.0);
  const auto r = run_osor_compare(base + " " + worse + " --tol psnr=-0.05 --resamples 500 --seed 3");
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("REGRESSED") != std::string::npos);
  const auto j = run_osor_compare(base + " " + worse + " --tol psnr=-0.05 --json");
  CHECK(j.exit_code == 1);
  const json parsed = json::parse(j.out);
  CHECK(parsed["regressed"] == true);
  REQUIRE(parsed["rows"].size() == 2);
  CHECK(parsed["rows"][0]["metric"] == "psnr");
  CHECK(parsed["rows"][0]["status"] == "regressed");
  CHECK(parsed["rows"][0]["delta"].get<double>() == doctest::Approx(-0.2));
  CHECK(parsed["rows"][1]["status"] == "unchanged");
}

TEST_CASE("osor compare exits 2 on a convention mismatch, a missing file or a bad --tol") {
  const fs::path dir = osor::test::scratch_dir("cli_compare_errors");
  const std::string base = write_run(dir, "base", 0.0, 10.0);
  const std::string luma = write_run(dir, "luma", 0.0, 10.0, "psnr[skimage-0.19,y,full]");
  const auto mismatch = run_osor_compare(base + " " + luma);
  CHECK(mismatch.exit_code == 2);
  CHECK(mismatch.err.find("metric psnr: convention differs (base 'psnr[skimage-0.19,rgb,full]', new "
                          "'psnr[skimage-0.19,y,full]')") != std::string::npos);
  const auto missing = run_osor_compare(base + " " + (dir / "nope" / "results.json").string());
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("nope/results.json") != std::string::npos);
  CHECK(run_osor_compare(base + " " + base + " --tol psnr").exit_code == 2);
}

TEST_CASE("osor compare warns about samples NEW lacks and still compares the rest") {
  const fs::path dir = osor::test::scratch_dir("cli_compare_missing");
  const std::string base = write_run(dir, "base", 0.0, 10.0);
  const std::string next_file = write_run(dir, "next", 0.0, 10.0);
  std::ifstream in(next_file);
  json next = json::parse(in);
  in.close();
  next["samples"].erase(next["samples"].begin(), next["samples"].begin() + 5);
  std::ofstream(next_file) << next.dump();
  const auto r = run_osor_compare(base + " " + next_file);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("warning: NEW lacks 5 of the 30 samples BASE had for sample / identity / object") !=
        std::string::npos);
}
