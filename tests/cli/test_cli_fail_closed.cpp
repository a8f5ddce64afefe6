// `osor eval` and `osor compare` fail closed: careless or hostile input never turns into a number or a silent pass.
// Each case reproduces a report of issue 12 end to end through the built `osor`.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/run_folder.h"
#include "tests/cli/osor_command.h"
#include "tests/conformance_fixture.h"
#include "tests/network_weights_dir.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using nlohmann::json;
using osor::test::run_osor;

namespace {

json read_json(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE_MESSAGE(in.good(), file.string());
  return json::parse(in);
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// osor run from `cwd` (for the default run folder, runs/<date>-<time> under the working directory).
int run_osor_in(const fs::path& cwd, const std::string& args) {
  const std::string cmd = "cd '" + cwd.string() + "' && " + OSOR_BINARY + " " + args + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const std::string kFast = " --metrics psnr --masks object --bootstrap 20 --limit 4";

// Outputs of a "checkpoint": the sample's inputs copied (identity) into a folder, for precomputed:dir=.
void write_precomputed_outputs(const fs::path& folder) {
  fs::create_directories(folder);
  for (const auto& e : fs::directory_iterator(fs::path(OSOR_TEST_FIXTURES_DIR).parent_path().parent_path() /
                                             "bench_data" / "sample" / "input"))
    fs::copy_file(e.path(), folder / e.path().filename(), fs::copy_options::overwrite_existing);
}

}  // namespace

TEST_CASE("osor compare: runs that share no method exit 4, naming the methods of each run") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_compare_nothing");
  REQUIRE(run_osor("eval --method identity" + kFast + " --out " + (dir / "a").string()).exit_code == 0);
  REQUIRE(run_osor("eval --method opencv-telea" + kFast + " --out " + (dir / "b").string()).exit_code == 0);
  const auto r = run_osor("compare " + (dir / "a").string() + " " + (dir / "b").string());
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("nothing to compare") != std::string::npos);
  CHECK(r.err.find("has identity") != std::string::npos);
  CHECK(r.err.find("has opencv-telea") != std::string::npos);
  CHECK(r.out.find("no regression") == std::string::npos);
}

TEST_CASE("osor compare: a method of BASE missing from NEW exits 4, --allow-missing compares the rest and says so") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_compare_missing");
  REQUIRE(run_osor("eval --method identity --method opencv-telea" + kFast + " --out " + (dir / "a").string()).exit_code == 0);
  REQUIRE(run_osor("eval --method identity" + kFast + " --out " + (dir / "b").string()).exit_code == 0);
  const std::string runs = (dir / "a").string() + " " + (dir / "b").string();
  const auto r = run_osor("compare " + runs);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("NEW has no results for sample / opencv-telea / object") != std::string::npos);
  const auto allowed = run_osor("compare " + runs + " --allow-missing");
  CHECK(allowed.exit_code == 0);
  CHECK(allowed.out.find("note: not compared (--allow-missing): NEW has no results for sample / opencv-telea") !=
        std::string::npos);
}

TEST_CASE("name=LABEL labels a method everywhere and precomputed checkpoints in different folders compare by label") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_labels");
  write_precomputed_outputs(dir / "ckpt-100");
  write_precomputed_outputs(dir / "ckpt-200");
  REQUIRE(run_osor("eval --method precomputed:dir=" + (dir / "ckpt-100").string() + ",name=OSOR" + kFast + " --out " +
                   (dir / "a").string()).exit_code == 0);
  REQUIRE(run_osor("eval --method precomputed:dir=" + (dir / "ckpt-200").string() + ",name=OSOR" + kFast + " --out " +
                   (dir / "b").string()).exit_code == 0);
  const json a = read_json(dir / "a" / "results.json");
  REQUIRE(a["methods"].size() == 1);
  CHECK(a["methods"][0]["label"] == "OSOR");
  CHECK(a["methods"][0]["id"].get<std::string>().find("ckpt-100") != std::string::npos);
  CHECK(a["methods"][0]["id"].get<std::string>().find("name=") == std::string::npos);  // the label is not the id
  for (const auto& s : a["samples"]) CHECK(s["method"] == "OSOR");
  for (const auto& g : a["aggregates"]) CHECK(g["method"] == "OSOR");
  CHECK(read_text(dir / "a" / "reports" / "table.md").find("| OSOR |") != std::string::npos);
  CHECK(read_text(dir / "a" / "gallery" / "index.html").find("OSOR") != std::string::npos);
  const auto r = run_osor("compare " + (dir / "a").string() + " " + (dir / "b").string());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("no regression in 1 comparisons") != std::string::npos);
}

TEST_CASE("osor compare --method-map takes a JSON object (inline or a file) for names with = and commas") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_method_map");
  REQUIRE(run_osor("eval --method opencv-telea:radius=3" + kFast + " --out " + (dir / "a").string()).exit_code == 0);
  REQUIRE(run_osor("eval --method opencv-telea:radius=3,name=telea,r3" + kFast + " --out " + (dir / "b").string())
              .exit_code == 2);  // ',' ends the label: r3 is not key=value
  REQUIRE(run_osor("eval --method 'opencv-telea:radius=3,name=telea=r3'" + kFast + " --out " + (dir / "b").string())
              .exit_code == 0);
  const std::string runs = (dir / "a").string() + " " + (dir / "b").string();
  CHECK(run_osor("compare " + runs).exit_code == 4);
  CHECK(run_osor("compare " + runs + " --method-map 'opencv-telea:radius=3=telea=r3'").exit_code == 2);
  const auto inline_map = run_osor("compare " + runs + " --method-map '{\"opencv-telea:radius=3\": \"telea=r3\"}'");
  CHECK(inline_map.exit_code == 0);
  std::ofstream(dir / "map.json") << R"({"opencv-telea:radius=3": "telea=r3"})";
  const auto file_map = run_osor("compare " + runs + " --method-map " + (dir / "map.json").string());
  CHECK(file_map.exit_code == 0);
  CHECK(file_map.out.find("opencv-telea:radius=3->telea=r3") != std::string::npos);
  const auto unknown = run_osor("compare " + runs + " --method-map '{\"nope\": \"telea=r3\"}'");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("BASE has no method 'nope'") != std::string::npos);
}

TEST_CASE("results.json records each benchmark spec's version and sha256, compare refuses a changed spec") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_spec_version");
  REQUIRE(run_osor("eval --method identity" + kFast + " --out " + (dir / "a").string()).exit_code == 0);
  const json a = read_json(dir / "a" / "results.json");
  REQUIRE(a["benches"].size() == 1);
  CHECK(a["benches"][0]["name"] == "sample");
  CHECK(a["benches"][0]["version"].get<int>() >= 1);
  CHECK(a["benches"][0]["sha256"].get<std::string>().size() == 64);
  // The same run with its spec changed: compare refuses, --allow-spec-change compares and says so.
  fs::copy(dir / "a", dir / "b", fs::copy_options::recursive);
  json b = read_json(dir / "b" / "results.json");
  b["benches"][0]["version"] = a["benches"][0]["version"].get<int>() + 1;
  std::ofstream(dir / "b" / "results.json") << b.dump(1);
  const std::string runs = (dir / "a").string() + " " + (dir / "b").string();
  const auto refused = run_osor("compare " + runs);
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("benchmark sample: spec differs") != std::string::npos);
  const auto allowed = run_osor("compare " + runs + " --allow-spec-change");
  CHECK(allowed.exit_code == 0);
  CHECK(allowed.out.find("compared anyway (--allow-spec-change)") != std::string::npos);
}

TEST_CASE("osor eval exits 3 when samples failed unless --max-failed allows them, and writes the run either way") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_exit_3");
  const std::string failing = " --method identity --method 'command:argv=/nonexistent/remover {input} {output}'" + kFast;
  const auto r = run_osor("eval" + failing + " --out " + (dir / "a").string());
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("4 sample(s) and 0 set-metric cell(s) failed (allowed: --max-failed 0)") != std::string::npos);
  CHECK(fs::exists(dir / "a" / "results.json"));
  CHECK(fs::exists(dir / "a" / "reports" / "table.md"));
  CHECK(run_osor("eval" + failing + " --max-failed 4 --out " + (dir / "b").string()).exit_code == 0);
  CHECK(run_osor("eval" + failing + " --max-failed 3 --out " + (dir / "c").string()).exit_code == 3);
}

TEST_CASE("usage errors exit 2, not CLI11's own codes, and --help exits 0") {
  CHECK(run_osor("eval --no-such-option").exit_code == 2);
  CHECK(run_osor("compare").exit_code == 2);
  CHECK(run_osor("eval --limit abc").exit_code == 2);
  CHECK(run_osor("no-such-command").exit_code == 2);
  CHECK(run_osor("eval --help").exit_code == 0);
  CHECK(run_osor("--version").exit_code == 0);
}

TEST_CASE("bad arguments are refused before a run folder exists, and default run folders never collide") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_validation");
  for (const std::string bad : {" --method nope", " --masks objects", " --bench nope", " --metrics nope",
                                " --method identity --method identity", " --device cuda", " --device gpu:0"}) {
    CAPTURE(bad);
    const auto r = run_osor("eval" + bad + " --out " + (dir / "run").string());
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line, no stack trace
    CHECK(!fs::exists(dir / "run"));
  }
  const auto cuda = run_osor("eval --device cuda --out " + (dir / "run").string());
  if (OSOR_TESTS_TORCH_CUDA == 0) CHECK(cuda.err.find("without CUDA") != std::string::npos);
  // Two runs started in the same second with no --out get two folders.
  const fs::path cwd = dir / "cwd";
  fs::create_directories(cwd);
  CHECK(run_osor_in(cwd, "eval --method identity" + kFast) == 0);
  CHECK(run_osor_in(cwd, "eval --method identity" + kFast) == 0);
  CHECK(run_osor_in(cwd, "eval --method identity" + kFast) == 0);
  size_t runs = 0;
  for (const auto& e : fs::directory_iterator(cwd / "runs")) runs += fs::exists(e.path() / "results.json") ? 1 : 0;
  CHECK(runs == 3);
}

TEST_CASE("--resume with different arguments is refused naming the difference, the same arguments continue") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_resume_args");
  const std::string out = " --out " + (dir / "run").string();
  REQUIRE(run_osor("eval --method identity" + kFast + out).exit_code == 0);
  const auto changed = run_osor("eval --resume --method identity --metrics ssim --masks object" + out);
  CHECK(changed.exit_code == 2);
  CHECK(changed.err.find("--resume with different arguments (metrics was [\"psnr\"], now [\"ssim\"])") !=
        std::string::npos);
  CHECK(read_json(dir / "run" / "config.json")["metrics"] == json::array({"psnr"}));
  CHECK(run_osor("eval --resume" + out).exit_code == 0);
  CHECK(run_osor("eval --resume --method identity" + kFast + out).exit_code == 0);
  CHECK(run_osor("eval --resume --out " + (dir / "none").string()).exit_code == 2);
}

TEST_CASE("a method label is text: name= with a path is refused and nothing outside the run is touched") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_label_path");
  fs::create_directories(dir / "victim");
  std::ofstream(dir / "victim" / "keep.txt") << "x";
  const auto r = run_osor("eval --method 'command:argv=/bin/cp {input} {output},name=x/../../victim'" + kFast +
                          " --out " + (dir / "run").string());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("contains '/'") != std::string::npos);
  CHECK(fs::exists(dir / "victim" / "keep.txt"));
  CHECK(!fs::exists(dir / "run"));
  CHECK(run_osor("eval --method identity:name=.." + kFast + " --out " + (dir / "run").string()).exit_code == 2);
}

TEST_CASE("a run folder has one writer: a second osor eval on a locked folder is refused with a clear message") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_lock");
  const std::string out = " --out " + (dir / "run").string();
  REQUIRE(run_osor("eval --method identity" + kFast + out).exit_code == 0);
  {
    const osor::harness::RunLock held(dir / "run");  // another writer holds the run
    const auto r = run_osor("eval --resume" + out);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("in use by another osor process") != std::string::npos);
    const auto fresh = run_osor("eval --method identity" + kFast + out);
    CHECK(fresh.exit_code == 2);
  }
  CHECK(run_osor("eval --resume" + out).exit_code == 0);  // released
  // Two runs racing for one new folder: one runs, the other is refused; the run holds what its config says.
  const fs::path race = dir / "race";
  const std::string a = std::string(OSOR_BINARY) + " eval --method identity --metrics psnr --masks object --limit 4 "
                        "--bootstrap 20 --out " + race.string() + " >/dev/null 2>&1; echo $? > " + (dir / "a.rc").string();
  const std::string b = std::string(OSOR_BINARY) + " eval --method identity --metrics ssim --masks object --limit 4 "
                        "--bootstrap 20 --out " + race.string() + " >/dev/null 2>&1; echo $? > " + (dir / "b.rc").string();
  REQUIRE(std::system(("(" + a + ") & (" + b + ") & wait").c_str()) == 0);
  const std::string codes = read_text(dir / "a.rc") + read_text(dir / "b.rc");
  CHECK((codes == "0\n2\n" || codes == "2\n0\n"));
  const json config = read_json(race / "config.json");
  const json results = read_json(race / "results.json");
  REQUIRE(results["aggregates"].size() == 1);
  CHECK(json::array({results["aggregates"][0]["metric"]}) == config["metrics"]);
  CHECK(results["aggregates"][0]["n"] == 4);
  // A folder holding something that is not a run is not written into.
  fs::create_directories(dir / "other");
  std::ofstream(dir / "other" / "notes.txt") << "mine";
  const auto other = run_osor("eval --method identity" + kFast + " --out " + (dir / "other").string());
  CHECK(other.exit_code == 2);
  CHECK(other.err.find("not empty and holds no run") != std::string::npos);
}

TEST_CASE("a truncated record is redone on --resume, with a warning naming its file") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_truncated_record");
  const std::string out = " --out " + (dir / "run").string();
  REQUIRE(run_osor("eval --method identity" + kFast + out).exit_code == 0);
  fs::path record;
  for (const auto& e : fs::recursive_directory_iterator(dir / "run" / "records")) {
    const std::string name = e.path().filename().string();
    if (record.empty() && e.path().extension() == ".json" && name.find(".removal.") == std::string::npos &&
        name.rfind("_set_", 0) != 0)
      record = e.path();
  }
  REQUIRE(!record.empty());
  const std::string whole = read_text(record);
  std::ofstream(record, std::ios::trunc) << whole.substr(0, whole.size() / 2);
  fs::remove(dir / "run" / "results.json");
  const auto resumed = run_osor("eval --resume" + out);
  CHECK(resumed.exit_code == 0);
  CHECK(resumed.err.find(record.filename().string()) != std::string::npos);  // the warning names the file
  CHECK(read_text(record) == whole);
  CHECK(read_json(dir / "run" / "results.json")["samples"].size() == 4);
}

TEST_CASE("a set metric that fails is recorded for its cells, the run completes and the table shows a dash") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_state_dict_keys.json");
  const fs::path dir = osor::test::scratch_dir("fail_closed_set_metric");
  osor::test::write_network_weights_dir(conf, dir / "weights");
  // FID of one sample has no covariance: it fails for every cell, psnr and the rest of the run do not.
  const std::string args = "eval --method identity --method opencv-telea --metrics psnr,fid --masks object --limit 1"
                           " --bootstrap 20 --weights " + (dir / "weights").string() + " --cache " +
                           (dir / "cache").string() + " --out " + (dir / "run").string();
  const auto r = run_osor(args);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("0 sample(s) and 2 set-metric cell(s) failed") != std::string::npos);
  const json results = read_json(dir / "run" / "results.json");
  int failed_cells = 0;
  for (const auto& a : results["aggregates"])
    if (a["metric"] == "fid") {
      ++failed_cells;
      CHECK(a["n"] == 0);
      CHECK(a["mean"] == "nan");
      CHECK(a["error"].get<std::string>().find("fid") != std::string::npos);
    } else {
      CHECK(a["n"] == 1);
    }
  CHECK(failed_cells == 2);
  const std::string table = read_text(dir / "run" / "reports" / "table.md");
  CHECK(table.find("\u2014") != std::string::npos);
  CHECK(table.find("(FID): not computed: fid: ") != std::string::npos);  // the note says why
}

TEST_CASE("a method output declaring a huge size is refused before decoding, as a failed sample") {
  const fs::path dir = osor::test::scratch_dir("fail_closed_output_bomb");
  write_precomputed_outputs(dir / "outputs");
  fs::path first;
  for (const auto& e : fs::directory_iterator(dir / "outputs"))
    if (first.empty() || e.path() < first) first = e.path();
  // The IHDR's width and height (bytes 16-23, big-endian) patched to 20000x20000: the header is all the guard reads.
  std::fstream png(first, std::ios::in | std::ios::out | std::ios::binary);
  const unsigned char size[8] = {0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20};
  png.seekp(16);
  png.write(reinterpret_cast<const char*>(size), 8);
  png.close();
  const auto r = run_osor("eval --method precomputed:dir=" + (dir / "outputs").string() + ",name=bomb" + kFast +
                          " --out " + (dir / "run").string());
  CHECK(r.exit_code == 3);
  const json results = read_json(dir / "run" / "results.json");
  int refused = 0;
  for (const auto& s : results["samples"])
    if (s["status"] == "failed")
      refused += s["error"].get<std::string>().find("PNG header declares 20000x20000 pixels") != std::string::npos;
  CHECK(refused == 1);
}
