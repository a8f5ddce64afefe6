// End-to-end: `osor report` renders a stored run in every format, to stdout or atomically to a file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/wait.h>

#include "tests/reports/run_fixture.h"
#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

osor::test::CommandResult run_osor_report(const std::string& args) { return osor::test::run_osor("report " + args); }

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path write_fixture_run(const std::string& name) {
  const fs::path dir = osor::test::scratch_dir(name) / "runs" / "fixture";
  fs::create_directories(dir);
  std::ofstream(dir / "results.json") << osor::test::fixture_results().dump(1);
  return dir;
}

}  // namespace

TEST_CASE("osor report prints the Markdown table by default") {
  const fs::path run = write_fixture_run("cli_report_md");
  const auto r = run_osor_report(run.string());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("| Dataset | Method | Latency (ms) | Object mask |", 0) == 0);
  CHECK(r.out.find("| alpha | identity | 1.50 | <u>50.00</u> |") != std::string::npos);
  CHECK(r.out.find("- Skipped CMMD:") != std::string::npos);
  // The run's results.json works as well as its folder.
  CHECK(run_osor_report((run / "results.json").string()).out == r.out);
}

TEST_CASE("osor report --format tex|csv|json, to stdout and to --out") {
  const fs::path run = write_fixture_run("cli_report_formats");
  const auto tex = run_osor_report(run.string() + " --format tex --out " + (run / "table.tex").string());
  REQUIRE(tex.exit_code == 0);
  CHECK(tex.out.empty());
  const std::string tex_file = read_text(run / "table.tex");
  CHECK(tex_file.find("\\toprule") != std::string::npos);
  CHECK(tex_file.find("osor\\_v1\\&b\\%") != std::string::npos);
  const auto csv = run_osor_report(run.string() + " --format csv");
  REQUIRE(csv.exit_code == 0);
  CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 60);  // header + 59 aggregates
  const auto j = run_osor_report(run.string() + " --format json");
  REQUIRE(j.exit_code == 0);
  const json parsed = json::parse(j.out);
  CHECK(parsed["format"] == "osor-report/1");
  CHECK(parsed["aggregates"] == osor::test::fixture_results()["aggregates"]);
}

TEST_CASE("osor report --format html writes the gallery in the run folder and prints its path") {
  const fs::path run = write_fixture_run("cli_report_html");
  const auto r = run_osor_report(run.string() + " --format html");
  REQUIRE(r.exit_code == 0);
  const fs::path page = run / "gallery" / "index.html";
  CHECK(r.out == fs::absolute(page).string() + "\n");
  REQUIRE(fs::exists(page));
  const std::string html = read_text(page);
  CHECK(html.find("\"../outputs/alpha/0/object/s01.png\"") != std::string::npos);
  const auto other = run_osor_report(run.string() + " --format html --out " + (run / "g2" / "page.html").string());
  REQUIRE(other.exit_code == 0);
  CHECK(read_text(run / "g2" / "page.html").find("\"../outputs/alpha/0/object/s01.png\"") != std::string::npos);
}

TEST_CASE("osor report errors: missing run, not a run record, unknown format") {
  const fs::path dir = osor::test::scratch_dir("cli_report_errors");
  const auto missing = run_osor_report((dir / "nope").string());
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("nope") != std::string::npos);
  std::ofstream(dir / "results.json") << R"({"format": "something-else"})";
  const auto wrong = run_osor_report(dir.string());
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("not an OSOR run record") != std::string::npos);
  const fs::path run = write_fixture_run("cli_report_errors_format");
  CHECK(run_osor_report(run.string() + " --format pdf").exit_code != 0);
}
