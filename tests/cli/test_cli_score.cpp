// End-to-end: the osor binary's `score` command, its JSON and its one-line errors.
#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "tests/cli/osor_command.h"
#include "tests/conformance_fixture.h"
#include "tests/test_paths.h"

using osor::test::run_osor;

namespace fs = std::filesystem;

namespace {


std::string image(const std::string& name) { return (osor::test::sample_images() / name).string(); }

}  // namespace

TEST_CASE("osor score --json prints the documented object, inf as a string") {
  const auto r = run_osor("score --metric psnr --pred " + image("p09_pred.png") + " --ref " + image("p09_ref.png") + " --json");
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.size() == 6);
  CHECK(j["metric"] == "psnr");
  CHECK(j["channels"] == "rgb");
  CHECK(j["region"] == "full");
  CHECK(j["n"] == 1);
  CHECK(j["mean"] == "inf");
  CHECK(j["per_image"]["p09_pred"] == "inf");
}

TEST_CASE("conformance: psnr_ssim/expected osor score pairs folders by stem and matches scikit-image (masked luma SSIM)") {
  OSOR_REQUIRE_CONFORMANCE(conf, "psnr_ssim/expected.json");
  const auto expected = osor::test::read_fixture_json(conf / "psnr_ssim" / "expected.json");
  const fs::path dir = osor::test::scratch_dir("cli_score_folders");
  for (const char* sub : {"pred", "ref", "mask"}) fs::create_directories(dir / sub);
  // Every pair of the fixture set whose masked luma SSIM is a number, copied under its id (pairing is by stem).
  double sum = 0;
  int n = 0;
  for (const auto& c : expected["cases"]) {
    if (!c.contains("mask") || !c["expected"]["ssim_luma_gaussian_masked"].is_number()) continue;
    const std::string id = c["id"].get<std::string>();
    fs::copy_file(conf / c["pred"].get<std::string>(), dir / "pred" / (id + ".png"));
    fs::copy_file(conf / c["ref"].get<std::string>(), dir / "ref" / (id + ".png"));
    fs::copy_file(conf / c["mask"].get<std::string>(), dir / "mask" / (id + ".png"));
    sum += c["expected"]["ssim_luma_gaussian_masked"].get<double>();
    ++n;
  }
  REQUIRE(n > 0);
  const auto r = run_osor("score --metric ssim --channels y --region mask --mask " + (dir / "mask").string() +
                          " --pred " + (dir / "pred").string() + " --ref " + (dir / "ref").string() + " --json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["n"] == n);
  CHECK(j["region"] == "mask");
  CHECK(j["channels"] == "y");
  // The mean of float64 values each within the fixture set's tolerance of scikit-image's.
  CHECK(std::abs(j["mean"].get<double>() - sum / n) <= osor::test::readme_tolerance::kPixelMetricsFloat64);
}

TEST_CASE("osor score errors: one line naming the file and the problem, non-zero exit") {
  const fs::path dir = osor::test::scratch_dir("cli_score_errors");
  std::ofstream(dir / "broken.png") << "not a png";
  std::ofstream(dir / "empty_mask.png").close();
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--pred " + (dir / "nope.png").string() + " --ref " + image("p01_ref.png"), "nope.png: file not found"},
      {"--pred " + (dir / "broken.png").string() + " --ref " + image("p01_ref.png"), "broken.png: cannot decode image"},
      {"--pred " + image("p02_pred.png") + " --ref " + image("p01_ref.png"), "differ in size"},
      {"--region mask --mask " + (dir / "empty_mask.png").string() + " --pred " + image("p01_pred.png") + " --ref " +
           image("p01_ref.png"),
       "empty_mask.png: empty file"},
      {"--region bbox --pred " + image("p01_pred.png") + " --ref " + image("p01_ref.png"), "needs --mask"},
  };
  // A mask with no object: p10's images are 12x17, an all-black mask of that size.
  std::ofstream(dir / "black.pgm", std::ios::binary) << "P5\n17 12\n255\n" << std::string(12 * 17, '\0');
  const auto no_object = run_osor("score --region mask --mask " + (dir / "black.pgm").string() + " --pred " +
                                  image("p10_pred.png") + " --ref " + image("p10_ref.png"));
  CHECK(no_object.exit_code == 2);
  CHECK(no_object.err.find("black.pgm: mask has no object pixels") != std::string::npos);
  for (const auto& c : cases) {
    CAPTURE(c.args);
    const auto r = run_osor("score " + c.args);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line, no stack of exceptions
  }
  // The 12x17 pair is large enough for the Gaussian window: it scores, with finite values.
  const auto tiny = run_osor("score --metric ssim --json --pred " + image("p10_pred.png") + " --ref " + image("p10_ref.png"));
  CHECK(tiny.exit_code == 0);
}
