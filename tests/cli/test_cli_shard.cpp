// Scale-out: `osor eval --shard K/N` run as several processes at once, `osor merge` back into one run equal to the
// unsharded run, the merge's refusals, `osor report` of several runs, and a feature cache shared by concurrent
// processes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/osor_command.h"
#include "tests/conformance_fixture.h"
#include "tests/network_weights_dir.h"
#include "tests/test_paths.h"

using nlohmann::json;
using osor::test::run_osor;
namespace fs = std::filesystem;

namespace {

json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), path.string());
  return json::parse(in);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs each osor argument string as its own process, all at once; returns their exit codes.
std::vector<int> run_osor_concurrently(const std::vector<std::string>& commands, const fs::path& dir) {
  std::string script;
  for (size_t i = 0; i < commands.size(); ++i) {
    const fs::path rc = dir / ("rc" + std::to_string(i));
    script += "( " + std::string(OSOR_BINARY) + " " + commands[i] + " >/dev/null 2>" + (dir / ("err" + std::to_string(i))).string() +
              "; echo $? > " + rc.string() + " ) & ";
  }
  script += "wait";
  REQUIRE(std::system(("/bin/sh -c '" + script + "'").c_str()) == 0);
  std::vector<int> codes;
  for (size_t i = 0; i < commands.size(); ++i) {
    const std::string text = read_text(dir / ("rc" + std::to_string(i)));
    codes.push_back(text.empty() ? -1 : std::stoi(text));
    if (codes.back() != 0) MESSAGE("command " << commands[i] << ": " << read_text(dir / ("err" + std::to_string(i))));
  }
  return codes;
}

// A sample record without what differs between two runs of the same work: timings.
json without_timing(json sample) {
  sample.erase("latency_ms");
  sample.erase("latency_warmup");
  return sample;
}

// Runs `eval_args` unsharded and as 3 concurrent shards, merges them; returns {whole, merged} results.json.
std::pair<json, json> whole_and_merged(const fs::path& dir, const std::string& eval_args) {
  const auto whole = run_osor("eval --out " + (dir / "whole").string() + " --cache " + (dir / "cache-whole").string() +
                              eval_args);
  REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
  std::vector<std::string> shards;
  for (int k = 0; k < 3; ++k)
    shards.push_back("eval --shard " + std::to_string(k) + "/3 --out " + (dir / ("shard" + std::to_string(k))).string() +
                     " --cache " + (dir / "cache-shards").string() + eval_args);
  for (int code : run_osor_concurrently(shards, dir)) CHECK(code == 0);
  // Any order of the shard folders.
  const auto merged = run_osor("merge " + (dir / "shard2").string() + " " + (dir / "shard0").string() + " " +
                               (dir / "shard1").string() + " --out " + (dir / "merged").string());
  REQUIRE_MESSAGE(merged.exit_code == 0, merged.err);
  return {read_json(dir / "whole" / "results.json"), read_json(dir / "merged" / "results.json")};
}

void check_same_samples(const json& whole, const json& merged) {
  REQUIRE(whole["samples"].size() == merged["samples"].size());
  for (size_t i = 0; i < whole["samples"].size(); ++i) {
    CAPTURE(whole["samples"][i]["id"]);
    CHECK(without_timing(whole["samples"][i]) == without_timing(merged["samples"][i]));
  }
}

}  // namespace

TEST_CASE("osor eval --shard: 3 shards run at once and merged equal the unsharded run, sample by sample") {
  const fs::path dir = osor::test::scratch_dir("cli_shard_merge");
  const auto [whole, merged] = whole_and_merged(
      dir, " --method identity --method opencv-telea --metrics psnr,ssim --bootstrap 200 --seed 7");
  REQUIRE(whole["samples"].size() == 24 * 2 * 2);  // the sample benchmark: 24 samples, 2 methods, 2 mask settings
  check_same_samples(whole, merged);
  // Means, standard deviations and bootstrap intervals: the same seed over the same sample order.
  CHECK(whole["aggregates"] == merged["aggregates"]);
  CHECK(whole["methods"] == merged["methods"]);
  json whole_config = whole["config"], merged_config = merged["config"];
  for (json* config : {&whole_config, &merged_config}) config->erase("cache_dir");  // the shards shared their own
  CHECK(whole_config == merged_config);
  CHECK(merged["config"]["shard"] == "0/1");
  // Each shard did a third of the work items, each once.
  std::set<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    const json shard = read_json(dir / ("shard" + std::to_string(k)) / "results.json");
    CHECK(shard["samples"].size() == 32);
    for (const auto& s : shard["samples"])
      CHECK(seen.insert(s["method"].get<std::string>() + s["masks"].get<std::string>() + s["id"].get<std::string>()).second);
  }
  // The merged run is a run: its tables and gallery, and --resume finds nothing to do.
  CHECK(fs::exists(dir / "merged" / "reports" / "table.md"));
  CHECK(fs::exists(dir / "merged" / "gallery" / "index.html"));
  const auto resumed = run_osor("eval --out " + (dir / "merged").string() + " --resume --json");
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
  CHECK(read_json(dir / "merged" / "results.json")["aggregates"] == whole["aggregates"]);
}

TEST_CASE("osor merge computes FID and CMMD from the shards' features as the unsharded run does") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_state_dict_keys.json");
  const fs::path dir = osor::test::scratch_dir("cli_shard_set_metrics");
  osor::test::write_network_weights_dir(conf, dir / "weights");
  const auto [whole, merged] = whole_and_merged(
      dir, " --weights " + (dir / "weights").string() +
               " --method identity --method opencv-telea --masks object --metrics psnr,lpips,fid,cmmd --bootstrap 50");
  check_same_samples(whole, merged);
  REQUIRE(whole["aggregates"].size() == merged["aggregates"].size());
  int set_values = 0;
  for (size_t i = 0; i < whole["aggregates"].size(); ++i) {
    const json& a = whole["aggregates"][i];
    const json& b = merged["aggregates"][i];
    CAPTURE(a);
    CHECK(a["metric"] == b["metric"]);
    CHECK(a["n"] == b["n"]);
    if (a["ci95"].is_null() && (a["metric"] == "fid" || a["metric"] == "cmmd")) {
      // The shards extract features in their own batches (8 outputs each, not 24): the features, and so the
      // distance, may differ in the last float32 bits of the network's sums.
      const double x = a["mean"].get<double>(), y = b["mean"].get<double>();
      CHECK(std::abs(x - y) <= 1e-4 * std::max(1.0, std::abs(x)));
      ++set_values;
    } else {
      CHECK(a == b);
    }
  }
  CHECK(set_values == 4);  // fid and cmmd for both methods
}

TEST_CASE("osor merge refuses missing, duplicated, unfinished and overlapping shards, naming them, and writes nothing") {
  const fs::path dir = osor::test::scratch_dir("cli_shard_refusals");
  const std::string args = " --method identity --masks object --metrics psnr --limit 6";
  for (int k = 0; k < 2; ++k) {
    const auto r = run_osor("eval --shard " + std::to_string(k) + "/2 --out " + (dir / ("s" + std::to_string(k))).string() + args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  const std::string s0 = (dir / "s0").string(), s1 = (dir / "s1").string();
  auto refused = [&](const std::string& shards, const std::vector<std::string>& words) {
    const auto r = run_osor("merge " + shards + " --out " + (dir / "out").string());
    CHECK(r.exit_code == 2);
    for (const auto& word : words) CHECK_MESSAGE(r.err.find(word) != std::string::npos, r.err);
    CHECK_FALSE(fs::exists(dir / "out"));
  };
  refused(s0, {"shard(s) 1/2 missing", "0/2 " + s0});
  refused(s0 + " " + s0, {"shard 0/2 given twice"});
  const auto other = run_osor("eval --shard 1/2 --out " + (dir / "other").string() + " --method identity --masks object "
                              "--metrics psnr,ssim --limit 6");
  REQUIRE_MESSAGE(other.exit_code == 0, other.err);
  refused(s0 + " " + (dir / "other").string(), {"not shards of one evaluation", "metrics"});
  const auto whole = run_osor("eval --out " + (dir / "whole").string() + args);
  REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
  refused(s0 + " " + (dir / "whole").string(), {"not a shard"});

  // Shard 0 owns s00 (item 0); a copy of its record in shard 1 is an overlap.
  fs::path record;
  for (const auto& e : fs::recursive_directory_iterator(dir / "s0" / "records"))
    if (e.path().filename() == "s00.json") record = e.path();
  REQUIRE_FALSE(record.empty());
  const fs::path copy = dir / "s1" / fs::relative(record, dir / "s0");
  fs::copy_file(record, copy);
  refused(s0 + " " + s1, {"overlap", "s00"});
  fs::remove(copy);
  // A work item shard 1 did not finish: named, with the command that finishes it.
  fs::remove(fs::path(copy).replace_filename("s01.json"));
  refused(s0 + " " + s1, {"1 work item(s) not finished", "s01", "osor eval --out " + s1 + " --resume"});
  const auto resumed = run_osor("eval --out " + s1 + " --resume");
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
  const auto merged = run_osor("merge " + s0 + " " + s1 + " --out " + (dir / "out").string());
  REQUIRE_MESSAGE(merged.exit_code == 0, merged.err);
  CHECK(read_json(dir / "out" / "results.json")["aggregates"] == read_json(dir / "whole" / "results.json")["aggregates"]);
}

TEST_CASE("osor report RUN RUN --out: runs of different methods combine into the table of one run with both") {
  const fs::path dir = osor::test::scratch_dir("cli_report_combined");
  const std::string args = " --masks object,effect --limit 8 --bootstrap 100";
  for (const auto& [name, methods] : std::vector<std::pair<std::string, std::string>>{
           {"a", "--method identity --metrics psnr,ssim"},
           {"b", "--method opencv-telea --metrics psnr,ssim"},
           {"ab", "--method identity --method opencv-telea --metrics psnr,ssim"},
           {"c", "--method opencv-ns --metrics psnr"}}) {
    const auto r = run_osor("eval --out " + (dir / name).string() + " " + methods + args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  const auto combined = run_osor("report " + (dir / "a").string() + " " + (dir / "b").string() + " --out " +
                                 (dir / "combined").string());
  REQUIRE_MESSAGE(combined.exit_code == 0, combined.err);
  const json one = read_json(dir / "ab" / "results.json"), both = read_json(dir / "combined" / "results.json");
  CHECK(one["aggregates"] == both["aggregates"]);
  CHECK(one["methods"] == both["methods"]);
  // The table equals the one run's but for the latency column (each run timed its own calls).
  const auto rows = [](const std::string& table) {
    std::vector<std::string> out;
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("| sample", 0) != 0 && line.rfind("|  |", 0) != 0) continue;
      const size_t latency_start = line.find('|', line.find('|', line.find('|') + 1) + 1);
      const size_t latency_end = line.find('|', latency_start + 1);
      out.push_back(line.substr(0, latency_start) + line.substr(latency_end));
    }
    return out;
  };
  const auto combined_rows = rows(read_text(dir / "combined" / "reports" / "table.md"));
  CHECK(combined_rows.size() == 2);
  CHECK(combined_rows == rows(read_text(dir / "ab" / "reports" / "table.md")));
  for (const char* file : {"reports/table.tex", "reports/notes.md", "reports/aggregates.csv", "gallery/index.html"})
    CHECK_MESSAGE(fs::exists(dir / "combined" / file), file);
  // The gallery links each run's own outputs (relative to the page).
  CHECK(read_text(dir / "combined" / "gallery" / "index.html").find("../../b/outputs/") != std::string::npos);

  // Other metrics (c has no ssim), or one label twice: refused, naming the runs and the difference.
  const auto metrics = run_osor("report " + (dir / "a").string() + " " + (dir / "c").string() + " --out " + (dir / "x").string());
  CHECK(metrics.exit_code == 2);
  CHECK_MESSAGE(metrics.err.find("metrics or metric conventions differ") != std::string::npos, metrics.err);
  CHECK(metrics.err.find("ssim") != std::string::npos);
  const auto twice = run_osor("report " + (dir / "a").string() + " " + (dir / "ab").string() + " --out " + (dir / "x").string());
  CHECK(twice.exit_code == 2);
  CHECK_MESSAGE(twice.err.find("labelled 'identity'") != std::string::npos, twice.err);
  CHECK_FALSE(fs::exists(dir / "x"));
}

TEST_CASE("a feature cache shared by 4 concurrent processes writing the same entries stays whole") {
  OSOR_REQUIRE_CONFORMANCE(conf, "fid/inception_state_dict_keys.json");
  const fs::path dir = osor::test::scratch_dir("cli_cache_concurrent");
  osor::test::write_inception_weights(conf, dir / "weights");
  const fs::path images = fs::path(OSOR_TEST_FIXTURES_DIR).parent_path().parent_path() / "bench_data" / "sample" / "gt";
  std::vector<std::string> commands;
  for (int k = 0; k < 4; ++k)
    commands.push_back("features --net inception-fid --images " + images.string() + " --weights " + (dir / "weights").string() +
                       " --cache " + (dir / "cache").string() + " --out " + (dir / ("f" + std::to_string(k) + ".safetensors")).string());
  for (int code : run_osor_concurrently(commands, dir)) CHECK(code == 0);
  // One entry per image, no temporaries left, every entry readable: a fifth run takes all 24 from the cache and
  // gets the same features.
  int entries = 0, temporaries = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "cache")) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) ++temporaries;
    else if (e.path().extension() == ".h5") ++entries;
  }
  CHECK(entries == 24);
  CHECK(temporaries == 0);
  const auto again = run_osor(commands[0] + "5");
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  CHECK_MESSAGE(again.err.find("(24 from the cache)") != std::string::npos, again.err);
  CHECK(read_text(dir / "f0.safetensors") == read_text(dir / "f0.safetensors5"));
}
