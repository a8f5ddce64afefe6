// End-to-end `osor eval` on the bundled sample: the run folder, the results.json contract, identity as the
// lower bound, and a run killed with SIGKILL that resumes to the same results without recomputing anything.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "harness/atomic_file.h"
#include "reports/thumbnails.h"
#include "tests/cli/osor_process.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs osor with an argument vector (its stdout and stderr in `log`); returns the exit code.
int run_osor(const std::vector<std::string>& args, const fs::path& log) {
  return wait_exit(osor::test::start_osor(args, log));
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  REQUIRE(in.good());
  return json::parse(in);
}

size_t count_records(const fs::path& run) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(run / "records", ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 5 && name.find(".removal.") == std::string::npos && name[0] != '.' && name.rfind("_set_", 0) != 0)
      ++n;
  }
  return n;
}

// Committed removals (records/**/<id>.removal.json) and logged method calls ("remove" events) of a run folder.
size_t count_removals(const fs::path& run) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(run / "records", ec)) {
    const std::string name = e.path().filename().string();
    n += name[0] != '.' && name.size() > 13 && name.compare(name.size() - 13, 13, ".removal.json") == 0;
  }
  return n;
}

size_t count_remove_events(const fs::path& run) {
  std::ifstream events(run / "events.jsonl");
  size_t n = 0;
  // A line cut by the kill is not a complete event.
  for (std::string line; std::getline(events, line);)
    n += line.find("\"event\":\"remove\"") != std::string::npos && !line.empty() && line.back() == '}';
  return n;
}

// (bench, method, masks, id) → metric values of every ok sample.
std::map<std::string, std::map<std::string, double>> sample_values(const json& results) {
  std::map<std::string, std::map<std::string, double>> out;
  for (const auto& s : results["samples"]) {
    const std::string key = s["bench"].get<std::string>() + "|" + s["method"].get<std::string>() + "|" +
                            s["masks"].get<std::string>() + "|" + s["id"].get<std::string>();
    for (const auto& [name, value] : s["metrics"].items()) out[key][name] = value.get<double>();
  }
  return out;
}

std::vector<std::string> eval_args(const fs::path& out) {
  std::vector<std::string> args = {"eval", "--metrics", "psnr,ssim", "--bootstrap", "200", "--out", out.string()};
  return args;
}

}  // namespace

TEST_CASE("osor eval on the sample: results.json contract, identity is the lower bound, samples.csv") {
  const fs::path dir = osor::test::scratch_dir("eval_full");
  REQUIRE(run_osor(eval_args(dir / "run"), dir / "log.txt") == 0);
  const json results = read_json(dir / "run" / "results.json");
  CHECK(results["format"] == "osor-run/1");
  REQUIRE(results["aggregates"].is_array());
  std::map<std::string, std::map<std::string, double>> means;  // "masks|metric" → method → mean
  for (const auto& a : results["aggregates"]) {
    for (const char* key : {"bench", "method", "masks", "metric", "mean", "ci95", "n"}) CHECK(a.contains(key));
    CHECK(a["n"] == 24);
    CHECK(a["ci95"][0].get<double>() <= a["mean"].get<double>());
    CHECK(a["mean"].get<double>() <= a["ci95"][1].get<double>());
    means[a["masks"].get<std::string>() + "|" + a["metric"].get<std::string>()][a["method"].get<std::string>()] =
        a["mean"].get<double>();
  }
  CHECK(means.size() == 4);  // {object, effect} x {psnr, ssim}
  for (const auto& [setting, by_method] : means) {
    CAPTURE(setting);
    REQUIRE(by_method.size() == 3);
    for (const auto& [method, mean] : by_method)
      if (method != "identity") CHECK(by_method.at("identity") < mean);
  }
  CHECK(results["samples"].size() == 3 * 2 * 24);
  CHECK(fs::exists(dir / "run" / "samples.csv"));
  std::ifstream csv(dir / "run" / "samples.csv");
  size_t lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  CHECK(lines == 1 + 3 * 2 * 24);
  // An existing run is never overwritten by accident.
  CHECK(run_osor(eval_args(dir / "run"), dir / "again.txt") == 2);
}

TEST_CASE("osor eval killed with SIGKILL resumes to the same results, repeating no committed removal") {
  const fs::path dir = osor::test::scratch_dir("eval_resume");
  REQUIRE(run_osor(eval_args(dir / "reference"), dir / "reference.txt") == 0);
  const json reference = read_json(dir / "reference" / "results.json");

  // Two pipeline threads: up to two removals can be in flight (called, not yet committed) when the kill comes.
  const size_t jobs = 2;
  std::vector<std::string> killed_args = eval_args(dir / "killed");
  killed_args.insert(killed_args.end(), {"--jobs", std::to_string(jobs)});
  const pid_t pid = osor::test::start_osor(killed_args, dir / "killed.txt");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (count_records(dir / "killed") < 40 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(pid, SIGKILL);
  wait_exit(pid);
  const size_t done_before = count_records(dir / "killed");
  // At most `jobs` calls can have been made (and logged) without their removal being committed (output +
  // .removal.json); those are made again on resume, no committed one is.
  const size_t calls_before = count_remove_events(dir / "killed"), removals_before = count_removals(dir / "killed");
  MESSAGE("at the kill: " << calls_before << " calls logged, " << removals_before << " removals committed");
  CHECK(calls_before >= removals_before);
  CHECK(calls_before <= removals_before + jobs);
  const size_t repeated = calls_before - removals_before;
  MESSAGE("killed after " << done_before << " of 144 records");
  CHECK(done_before >= 40);
  CHECK(done_before < 144);
  CHECK(!fs::exists(dir / "killed" / "results.json"));

  std::vector<std::string> resume = {"eval", "--resume", "--out", (dir / "killed").string()};
  REQUIRE(run_osor(resume, dir / "resumed.txt") == 0);
  const json resumed = read_json(dir / "killed" / "results.json");
  CHECK(sample_values(resumed) == sample_values(reference));
  REQUIRE(resumed["aggregates"].size() == reference["aggregates"].size());
  for (size_t i = 0; i < reference["aggregates"].size(); ++i) {
    CHECK(resumed["aggregates"][i]["mean"] == reference["aggregates"][i]["mean"]);
    CHECK(resumed["aggregates"][i]["ci95"] == reference["aggregates"][i]["ci95"]);
  }
  // Every method call is logged once in events.jsonl: none may repeat across the kill and the resume.
  std::ifstream events(dir / "killed" / "events.jsonl");
  std::multiset<std::string> calls;
  for (std::string line; std::getline(events, line);) {
    const json e = json::parse(line);
    if (e["event"] == "remove") calls.insert(e["method"].get<std::string>() + e["masks"].get<std::string>() + e["id"].get<std::string>());
  }
  CHECK(calls.size() == 144 + repeated);
  size_t twice = 0;
  for (const auto& c : calls) {
    CHECK(calls.count(c) <= 2);
    twice += calls.count(c) == 2;
  }
  CHECK(twice == 2 * repeated);  // the multiset visits a repeated call's two entries
  // Nothing half-written remains.
  for (const auto& e : fs::recursive_directory_iterator(dir / "killed"))
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("osor eval --jobs 1, 2 and 8: bit-identical records and aggregates, identity outputs linked not re-encoded") {
  const fs::path dir = osor::test::scratch_dir("eval_jobs");
  std::map<int, json> results;
  for (const int jobs : {1, 2, 8}) {
    const fs::path run = dir / ("jobs" + std::to_string(jobs));
    // Both mask settings (the input decoded once for both), a masked region (the metric reads the mask) and a
    // method that really computes (opencv-telea: outputs encoded, scored as saved).
    REQUIRE(run_osor({"eval", "--method", "identity", "--method", "opencv-telea", "--metrics", "psnr,ssim,ssim-uniform",
                      "--region", "bbox", "--bootstrap", "50", "--jobs", std::to_string(jobs), "--out", run.string()},
                     dir / ("jobs" + std::to_string(jobs) + ".txt")) == 0);
    results[jobs] = read_json(run / "results.json");
    const json meta = read_json(run / "run_meta.json");
    CHECK(meta["timing"]["jobs"] == jobs);
    for (const char* stage : {"decode", "method", "psnr", "ssim", "ssim-uniform", "write"})
      CHECK(meta["timing"]["stages_s"].contains(stage));
  }
  const auto reference = sample_values(results[1]);
  CHECK(reference.size() == 2 * 2 * 24);
  for (const int jobs : {2, 8}) {
    CAPTURE(jobs);
    CHECK(sample_values(results[jobs]) == reference);  // exact: the doubles compare equal
    CHECK(results[jobs]["aggregates"] == results[1]["aggregates"]);
  }
  // identity's outputs are the input files themselves (8-bit RGB PNGs): linked, byte for byte.
  size_t linked = 0;
  for (const auto& s : results[2]["samples"]) {
    if (s["method"] != "identity") continue;
    const fs::path output = dir / "jobs2" / s["output"].get<std::string>();
    CHECK(osor::harness::read_file_bytes(output) == osor::harness::read_file_bytes(s["input"].get<std::string>()));
    ++linked;
  }
  CHECK(linked == 2 * 24);
  // The gallery's thumbnails: every output, input and ground truth has one (reports/thumbnails.h), and the page
  // shows them.
  const fs::path run2 = dir / "jobs2";
  for (const auto& s : results[2]["samples"]) {
    CHECK(fs::exists(run2 / osor::reports::output_thumbnail(s["output"].get<std::string>())));
    for (const char* role : {"input", "gt"})
      CHECK(fs::exists(run2 / osor::reports::sample_thumbnail("sample", role, s["id"].get<std::string>())));
  }
  std::ifstream page(run2 / "gallery" / "index.html");
  const std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  CHECK(html.find("\"thumb\":\"../thumbs/outputs/sample/") != std::string::npos);
  CHECK(html.find("\"input_thumb\":\"../thumbs/sample/input/s00.jpg\"") != std::string::npos);
}

TEST_CASE("atomic files: a dead writer's temporaries are removed on resume, a live writer's and other files kept") {
  const fs::path dir = osor::test::scratch_dir("orphaned_temporaries");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  REQUIRE(dead > 0);
  int status = 0;
  waitpid(dead, &status, 0);
  const std::string d = std::to_string(dead), self = std::to_string(getpid());
  fs::create_directories(dir / "records" / "a");
  for (const fs::path& p : {dir / (".s1.png.tmp" + d + "_3"), dir / "records" / "a" / (".s1.json.tmp" + d + "_17"),
                           dir / (".s2.png.tmp" + self + "_4"), dir / ".s3.png.tmp1_5", dir / "s4.png",
                           dir / ".s5.tmpx_1", dir / "s6.png.tmp" / "keep"}) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
  }
  CHECK(osor::harness::remove_orphaned_temporaries(dir) == 2);
  CHECK(!fs::exists(dir / (".s1.png.tmp" + d + "_3")));
  CHECK(!fs::exists(dir / "records" / "a" / (".s1.json.tmp" + d + "_17")));
  CHECK(fs::exists(dir / (".s2.png.tmp" + self + "_4")));  // this process's own writes in progress
  CHECK(fs::exists(dir / ".s3.png.tmp1_5"));               // pid 1 runs
  CHECK(fs::exists(dir / "s4.png"));
  CHECK(fs::exists(dir / ".s5.tmpx_1"));                   // not a temporary's name
  CHECK(fs::exists(dir / "s6.png.tmp" / "keep"));
  CHECK(osor::harness::remove_orphaned_temporaries(dir / "missing") == 0);
}

TEST_CASE("osor eval records a failing method per sample and goes on") {
  const fs::path dir = osor::test::scratch_dir("eval_failures");
  std::vector<std::string> args = {"eval", "--metrics", "psnr", "--masks", "object", "--limit", "3",
                                   "--method", "identity", "--method", "command:argv=/nonexistent/remover {input} {output}",
                                   "--out", (dir / "run").string()};
  REQUIRE(run_osor(args, dir / "log.txt") == 3);  // failed samples: exit 3, the run written
  REQUIRE(run_osor({"eval", "--resume", "--max-failed", "3", "--out", (dir / "run").string()}, dir / "log2.txt") == 0);
  const json results = read_json(dir / "run" / "results.json");
  int failed = 0;
  for (const auto& s : results["samples"])
    if (s["status"] == "failed") {
      ++failed;
      CHECK(s["error"].get<std::string>().find("cannot start the program") != std::string::npos);
    }
  CHECK(failed == 3);
}

TEST_CASE("osor eval latency: each method's first call is warm-up, left out of the median the tables state") {
  const fs::path dir = osor::test::scratch_dir("eval_latency_warmup");
  REQUIRE(run_osor({"eval", "--method", "identity", "--method", "opencv-telea", "--metrics", "psnr", "--masks",
                    "object,effect", "--limit", "4", "--out", (dir / "run").string()},
                   dir / "log.txt") == 0);
  const json results = read_json(dir / "run" / "results.json");
  std::map<std::string, int> warmups;  // method → samples marked warm-up
  for (const auto& s : results["samples"])
    if (s.value("latency_warmup", false)) ++warmups[s["method"].get<std::string>()];
  CHECK(warmups == std::map<std::string, int>{{"identity", 1}, {"opencv-telea", 1}});
  // The warm-up call is in the first (object) group of each method: 3 of its 4 samples remain there.
  int checked = 0;
  for (const auto& l : results["latency"]) {
    const bool first_group = l["masks"] == "object";
    CHECK(l["n"] == (first_group ? 3 : 4));
    CHECK(l["n_warmup"] == (first_group ? 1 : 0));
    ++checked;
  }
  CHECK(checked == 4);
  CHECK(results["provenance"]["device_name"].get<std::string>().find("(cpu,") != std::string::npos);
  const fs::path md = dir / "table.md";
  REQUIRE(run_osor({"report", (dir / "run").string(), "--format", "md", "--out", md.string()}, dir / "report.txt") == 0);
  std::ifstream in(md);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("latency: median over 3–4 samples, warm-up excluded, device-synchronised, ") != std::string::npos);
}
