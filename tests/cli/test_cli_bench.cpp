// End-to-end: `osor bench list` and `osor bench check` over a spec folder where one file is malformed and two
// give the same name: the usable specs still work, each problem is one warning line, the listing exits 1.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::test::run_osor;

namespace {

fs::path source_bench_dir() { return osor::test::fixtures_dir().parent_path().parent_path() / "bench_data"; }

// A spec over the bundled sample's files (absolute root, so it works from any folder).
void write_sample_spec(const fs::path& file, const std::string& name) {
  const nlohmann::json spec = {{"name", name},
                               {"version", 1},
                               {"root", (source_bench_dir() / "sample").string()},
                               {"input", "input/{id}.png"},
                               {"gt", "gt/{id}.png"},
                               {"object_mask", "mask/{id}.png"},
                               {"effect_mask", "mask_effect/{id}.png"}};
  std::ofstream(file) << spec.dump(2);
}

}  // namespace

TEST_CASE("osor bench list: usable specs listed, one stderr warning per malformed or duplicated spec, exit 1") {
  const fs::path dir = osor::test::scratch_dir("cli_bench_list");
  write_sample_spec(dir / "good.json", "good");
  write_sample_spec(dir / "twin_a.json", "twin");
  write_sample_spec(dir / "twin_b.json", "twin");
  std::ofstream(dir / "broken.json") << "{\"name\": \"broken\",";
  const std::string bench = "bench --bench-dir " + dir.string();

  auto r = run_osor(bench + " list");
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("good") != std::string::npos);
  CHECK(r.out.find("twin") == std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 2);
  CHECK(r.err.find("osor: warning: " + (dir / "broken.json").string() + ": invalid JSON") != std::string::npos);
  CHECK(r.err.find("osor: warning: benchmark name 'twin' is given by 2 spec files (" + (dir / "twin_a.json").string() +
                   ", " + (dir / "twin_b.json").string() + ")") != std::string::npos);

  r = run_osor(bench + " list --json");
  CHECK(r.exit_code == 1);
  const auto listed = nlohmann::json::parse(r.out);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["name"] == "good");
  CHECK(listed[0]["version"] == 1);
  CHECK(listed[0]["sha256"].get<std::string>().size() == 64);

  // find_benchmark: the good spec works despite the others; a shared name names both files.
  r = run_osor(bench + " check good");
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK") != std::string::npos);
  r = run_osor(bench + " check twin");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("benchmark 'twin' is given by 2 spec files (" + (dir / "twin_a.json").string() + ", " +
                   (dir / "twin_b.json").string() + ")") != std::string::npos);
  r = run_osor(bench + " check broken");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown benchmark 'broken' (known: good;") != std::string::npos);
  CHECK(r.err.find((dir / "broken.json").string() + ": invalid JSON") != std::string::npos);
}

TEST_CASE("osor bench list: a folder whose specs are all usable exits 0 with nothing on stderr") {
  const auto r = run_osor("bench --bench-dir " + source_bench_dir().string() + " list");
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("sample") != std::string::npos);
  CHECK(r.out.find("rord-val") != std::string::npos);
}
