// End-to-end: `osor bench list` and `osor bench check` over a spec folder where one file is malformed and two
// give the same name: the usable specs still work, each problem is one warning line, the listing exits 1.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
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
  // The folder adds to the built-in specs: those and "good", not the broken or twinned ones.
  nlohmann::json good;
  std::set<std::string> names;
  for (const auto& spec : nlohmann::json::parse(r.out)) {
    names.insert(spec["name"].get<std::string>());
    if (spec["name"] == "good") good = spec;
  }
  CHECK(names.count("sample") == 1);
  CHECK(names.count("twin") == 0);
  CHECK(names.count("broken") == 0);
  REQUIRE(good.is_object());
  CHECK(good["version"] == 1);
  CHECK(good["sha256"].get<std::string>().size() == 64);

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
  CHECK(r.err.find("unknown benchmark 'broken' (known: ") != std::string::npos);
  CHECK(r.err.find(", good;") != std::string::npos);
  CHECK(r.err.find((dir / "broken.json").string() + ": invalid JSON") != std::string::npos);
}

TEST_CASE("osor bench list: a folder whose specs are all usable exits 0 with nothing on stderr") {
  const auto r = run_osor("bench --bench-dir " + source_bench_dir().string() + " list");
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("sample") != std::string::npos);
  CHECK(r.out.find("rord-val") != std::string::npos);
}

TEST_CASE("a user's spec folder adds to the built-in specs, a spec file is a --bench, and osor list names them all") {
  const fs::path dir = osor::test::scratch_dir("cli_bench_user_specs");
  fs::create_directories(dir / "specs");
  write_sample_spec(dir / "specs" / "mine.json", "mine");
  const std::string specs = " --bench-dir " + (dir / "specs").string();

  const auto list = run_osor("list --json" + specs);
  REQUIRE_MESSAGE(list.exit_code == 0, list.err);
  std::set<std::string> listed;
  for (const auto& e : nlohmann::json::parse(list.out)) listed.insert(e["kind"].get<std::string>() + ":" + e["name"].get<std::string>());
  for (const char* entry : {"metric:psnr", "metric:fid", "method:identity", "method:precomputed", "benchmark:sample",
                            "benchmark:rord-val", "benchmark:mine"})
    CHECK_MESSAGE(listed.count(entry) == 1, entry);
  const auto bench_list = run_osor("bench" + specs + " list");
  CHECK(bench_list.exit_code == 0);
  CHECK(bench_list.out.find("mine") != std::string::npos);
  CHECK(bench_list.out.find("rord-val") != std::string::npos);

  const std::string common = " --method identity --metrics psnr --masks object --limit 3 --bootstrap 20";
  const auto by_name = run_osor("eval --bench mine" + specs + common + " --out " + (dir / "by_name").string());
  REQUIRE_MESSAGE(by_name.exit_code == 0, by_name.err);
  const auto by_file = run_osor("eval --bench " + (dir / "specs" / "mine.json").string() + common + " --out " +
                                (dir / "by_file").string());
  REQUIRE_MESSAGE(by_file.exit_code == 0, by_file.err);
  std::ifstream a_in(dir / "by_name" / "results.json"), b_in(dir / "by_file" / "results.json");
  const auto a = nlohmann::json::parse(a_in), b = nlohmann::json::parse(b_in);
  CHECK(b["benches"][0]["name"] == "mine");
  CHECK(a["aggregates"] == b["aggregates"]);
  CHECK(a["aggregates"].size() == 1);
  CHECK(b["config"]["benches"][0] == (dir / "specs" / "mine.json").string());
  CHECK(by_file.out.find("| mine | identity |") != std::string::npos);

  const auto missing = run_osor("eval --bench " + (dir / "nope.json").string() + common + " --out " + (dir / "x").string());
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("nope.json: benchmark spec file not found") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "x"));
}
