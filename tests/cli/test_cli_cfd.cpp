// End-to-end CFD through the CLI with the cfd fixtures' tiny networks laid out under the manifest's names
// (sam_vit_h_4b8939.safetensors + its sidecar config, dinov2-giant/{config.json, preprocessor_config.json,
// model.safetensors}): `osor score --metric cfd` (reference-free: --pred and --mask) in both modes and `osor eval
// --metrics cfd`. The random-weight SAM's masks are meaningless, but d0 (hole vs context ring) does not depend on
// them: it must match the fixture's d0 of the same picture and component within the full-pipeline tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli/osor_command.h"
#include "tests/conformance_fixture.h"
#include "tests/test_paths.h"

using osor::test::run_osor;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// The fixture networks in a weights folder, under model/weights_manifest.cpp's names.
void write_cfd_weights_dir(const fs::path& conf, const fs::path& dir) {
  const fs::path cfd = conf / "cfd";
  const auto sam = osor::test::read_fixture_json(cfd / "sam.json");
  const auto dinov2 = osor::test::read_fixture_json(cfd / "dinov2.json");
  fs::create_directories(dir / "dinov2-giant");
  fs::copy_file(cfd / sam.at("weights").at("file").get<std::string>(), dir / "sam_vit_h_4b8939.safetensors", fs::copy_options::overwrite_existing);
  write_text(dir / "sam_vit_h_4b8939.json", sam.at("config").dump());
  fs::copy_file(cfd / dinov2.at("weights").at("file").get<std::string>(), dir / "dinov2-giant" / "model.safetensors",
                fs::copy_options::overwrite_existing);
  write_text(dir / "dinov2-giant" / "config.json", dinov2.at("config").dump());
  write_text(dir / "dinov2-giant" / "preprocessor_config.json", dinov2.at("preprocessor_config").dump());
}

}  // namespace

TEST_CASE("conformance: cfd/cfd osor score --metric cfd: d0 of the fixture's first single-component picture in both modes, terms in the JSON") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/cfd.json");
  const auto cfd = osor::test::read_fixture_json(conf / "cfd" / "cfd.json");
  const fs::path dir = osor::test::scratch_dir("cli_cfd_score");
  write_cfd_weights_dir(conf, dir / "weights");
  // A picture with one component: its score is that component's value, its d0 the first call.
  std::string id;
  for (const auto& [key, c] : cfd.at("cases").items())
    if (c.at("components").size() == 1) {
      id = key;
      break;
    }
  REQUIRE_MESSAGE(!id.empty(), "no single-component picture in cfd.json");
  const auto& c = cfd.at("cases").at(id);
  for (const std::string mode : {"official", "corrected"}) {
    CAPTURE(mode);
    const auto r = run_osor("score --metric cfd --cfd-mode " + mode + " --weights " + (dir / "weights").string() + " --pred " +
                            (conf / "cfd" / c.at("picture").get<std::string>()).string() + " --mask " +
                            (conf / "cfd" / c.at("mask").get<std::string>()).string() + " --json");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j.at("metric") == "cfd");
    REQUIRE(j.at("per_image").size() == 1);
    const std::string stem = j.at("per_image").begin().key();
    const auto& terms = j.at("terms").at(stem);
    const double d0 = terms.at("c0.d0").get<double>();
    const double expected = c.at("components")[0].at("calls")[0].at(mode).at("score_f64_run").get<double>();
    const double atol = cfd.at("tolerance").at("full_pipeline").at(mode).get<double>();
    MESSAGE(mode << " d0 " << d0 << " vs " << expected);
    CHECK(std::abs(d0 - expected) <= atol);
    CHECK(j.at("per_image").at(stem).get<double>() == doctest::Approx(terms.at("c0.value").get<double>()).epsilon(1e-12));
    CHECK(j.at("per_image").at(stem).get<double>() >= d0 - 1e-12);  // value = d0 + a weighted sum of distances ≥ 0
  }
  // Reference-free, but not mask-free.
  const auto no_mask = run_osor("score --metric cfd --weights " + (dir / "weights").string() + " --pred " +
                                (conf / "cfd" / c.at("picture").get<std::string>()).string());
  CHECK(no_mask.exit_code != 0);
  CHECK(no_mask.err.find("metric cfd needs --mask") != std::string::npos);
  const auto bad_mode = run_osor("score --metric cfd --cfd-mode fixed --weights " + (dir / "weights").string() + " --pred " +
                                 (conf / "cfd" / c.at("picture").get<std::string>()).string());
  CHECK(bad_mode.exit_code != 0);
  CHECK(bad_mode.err.find("CFD mode 'fixed' is not known") != std::string::npos);
}

TEST_CASE("osor eval --metrics cfd fills the CFD column and records the per-component terms, and is skipped without weights") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/cfd.json");
  const fs::path dir = osor::test::scratch_dir("cli_cfd_eval");
  write_cfd_weights_dir(conf, dir / "weights");
  const std::string common = " --method identity --method opencv-telea --masks object --limit 2 --bootstrap 20 --metrics psnr,cfd --json";
  const auto r = run_osor("eval --weights " + (dir / "weights").string() + " --out " + (dir / "run").string() + common);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::ifstream in(dir / "run" / "results.json");
  const auto results = nlohmann::json::parse(in);
  int cfd_cells = 0;
  for (const auto& a : results.at("aggregates"))
    if (a.at("metric") == "cfd") {
      ++cfd_cells;
      CHECK(a.at("n").get<int>() == 2);
      CHECK(std::isfinite(a.at("mean").get<double>()));
    }
  CHECK(cfd_cells == 2);
  bool found_conv = false;
  for (const auto& m : results.at("metrics"))
    if (m.at("name") == "cfd") found_conv = m.at("convention").get<std::string>().rfind("cfd[official,", 0) == 0;
  CHECK(found_conv);
  int with_terms = 0;
  for (const auto& s : results.at("samples"))
    if (s.contains("metric_terms") && s["metric_terms"].contains("cfd")) {
      ++with_terms;
      CHECK(s["metric_terms"]["cfd"].contains("c0.d0"));
    }
  CHECK(with_terms == 4);
  std::ifstream table_file(dir / "run" / "reports" / "table.md");
  const std::string table((std::istreambuf_iterator<char>(table_file)), std::istreambuf_iterator<char>());
  CHECK(table.find("CFD") != std::string::npos);

  const auto bad_mode = run_osor("eval --weights " + (dir / "weights").string() + " --out " + (dir / "bad").string() + common +
                                 " --cfd-mode fixed");
  CHECK(bad_mode.exit_code == 2);
  CHECK(bad_mode.err.find("CFD mode 'fixed' is not known") != std::string::npos);

  fs::create_directories(dir / "empty");
  const auto bare = run_osor("eval --weights " + (dir / "empty").string() + " --out " + (dir / "bare").string() + common);
  REQUIRE_MESSAGE(bare.exit_code == 0, bare.err);
  CHECK(bare.err.find("sam_vit_h_4b8939.safetensors") != std::string::npos);
}
