// osor compare: regression check of a new run against a baseline run (harness/compare.h), usable as a CI step that
// fails closed. Exit code 0: no regression; 1: a metric regressed beyond its tolerance; 2: error (unreadable run,
// convention, version or benchmark-spec mismatch, bad arguments); 4: nothing comparable, or something BASE had
// that NEW lacks (a method, a mask setting, a metric) — unless --allow-missing, which the report then states.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/compare.h"
#include "harness/error.h"
#include "harness/run_record.h"

namespace osor::cli {
namespace {

struct CompareArgs {
  std::string base, next, tolerance, method_map;
  int resamples = 2000;
  uint64_t seed = 0;
  bool json = false, allow_missing = false, allow_spec_change = false;
};

// --method-map is a JSON object, inline or in a file (for labels and ids with '=' or ','), or OLD=NEW,...
std::map<std::string, std::string> read_method_map(const std::string& text) {
  std::error_code ec;
  if (!text.empty() && text.front() != '{' && std::filesystem::is_regular_file(text, ec)) {
    const auto bytes = harness::read_file_bytes(text);
    try {
      return harness::parse_method_map(std::string(bytes.begin(), bytes.end()));
    } catch (const HarnessError& e) {
      throw HarnessError(text + ": " + e.what());
    }
  }
  return harness::parse_method_map(text);
}

std::string method_list(const harness::RunRecord& run) {
  std::string out;
  for (const auto& m : run.methods) out += (out.empty() ? "" : ", ") + m.label;
  return out.empty() ? "no methods" : out;
}

// Comparing nothing, or less than BASE had, is no evidence of "no regression": exit 4.
void fail_closed(const harness::CompareResult& result, const harness::RunRecord& base, const harness::RunRecord& next,
                 const CompareArgs& args) {
  if (result.rows.empty()) {
    std::fprintf(stderr,
                 "osor compare: error: nothing to compare: BASE %s has %s; NEW %s has %s (match renamed methods with "
                 "--method-map)\n",
                 args.base.c_str(), method_list(base).c_str(), args.next.c_str(), method_list(next).c_str());
    throw ExitStatus{4};
  }
  if (result.missing.empty() || args.allow_missing) return;
  for (const auto& m : result.missing) std::fprintf(stderr, "osor compare: error: %s\n", m.c_str());
  std::fprintf(stderr,
               "osor compare: error: NEW lacks %zu thing(s) BASE had (BASE methods: %s; NEW methods: %s); "
               "--allow-missing compares the rest\n",
               result.missing.size(), method_list(base).c_str(), method_list(next).c_str());
  throw ExitStatus{4};
}

void run_compare(const CompareArgs& args) {
  if (args.resamples < 1) throw HarnessError("--resamples must be at least 1");
  harness::CompareOptions options;
  options.tolerance = harness::parse_tolerances(args.tolerance);
  options.method_map = read_method_map(args.method_map);
  options.allow_spec_change = args.allow_spec_change;
  options.resamples = args.resamples;
  options.seed = args.seed;
  const harness::RunRecord base = harness::read_run_record(args.base);
  const harness::RunRecord next = harness::read_run_record(args.next);
  harness::CompareResult result = harness::compare_runs(base, next, options);
  for (const auto& warning : result.warnings) std::fprintf(stderr, "osor compare: warning: %s\n", warning.c_str());
  fail_closed(result, base, next, args);
  for (const auto& m : result.missing) result.notes.push_back("not compared (--allow-missing): " + m);
  if (args.json) std::printf("%s\n", harness::to_json(result).dump(2).c_str());
  else std::printf("%s", harness::format_compare_table(result).c_str());
  std::fflush(stdout);
  // 1 is "the check failed" (harness/cli/main.cpp keeps 2 for errors).
  if (result.regressed()) throw ExitStatus{1};
}

void add_compare_command(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Regression check: NEW against BASE; exit 1 when a metric got worse beyond its tolerance");
  cmd->add_option("base", args->base, "baseline results.json (or its run folder)")->required();
  cmd->add_option("new", args->next, "new results.json (or its run folder)")->required();
  cmd->add_option("--tol", args->tolerance,
                  "allowed change per metric, signed in its worse direction: psnr=-0.1,ssim=-0.002,lpips=0.002 "
                  "(default 0)");
  cmd->add_option("--resamples", args->resamples, "paired bootstrap resamples")->capture_default_str();
  cmd->add_option("--seed", args->seed, "bootstrap seed")->capture_default_str();
  cmd->add_option("--method-map", args->method_map,
                  "match renamed methods by label or id: OLD=NEW[,OLD2=NEW2], or a JSON object {\"OLD\": \"NEW\"} "
                  "inline or in a file (for names with '=' or ',')");
  cmd->add_flag("--allow-missing", args->allow_missing,
                "compare what both runs have instead of exiting 4 when NEW lacks a method, setting or metric of BASE "
                "(stated in the report)");
  cmd->add_flag("--allow-spec-change", args->allow_spec_change,
                "compare benchmarks whose spec version or sha256 differ between the runs (stated in the report)");
  add_json_flag(*cmd, args->json, "the comparison, format osor-compare/1");
  cmd->callback([args] { run_compare(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("compare", add_compare_command);

}  // namespace osor::cli
