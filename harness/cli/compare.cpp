// osor compare: regression check of a new run against a baseline run (harness/compare.h). Exit code
// 0: no regression, 1: a metric regressed beyond its tolerance, 2: error (unreadable run, convention
// or version mismatch). Usable as a CI step.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/compare.h"
#include "harness/error.h"
#include "harness/run_record.h"

namespace osor::cli {
namespace {

struct CompareArgs {
  std::string base, next, tolerance, method_map;
  int resamples = 2000;
  uint64_t seed = 0;
  bool json = false;
};

void run_compare(const CompareArgs& args) {
  if (args.resamples < 1) throw HarnessError("--resamples must be at least 1");
  harness::CompareOptions options;
  options.tolerance = harness::parse_tolerances(args.tolerance);
  options.method_map = harness::parse_method_map(args.method_map);
  options.resamples = args.resamples;
  options.seed = args.seed;
  const harness::RunRecord base = harness::read_run_record(args.base);
  const harness::RunRecord next = harness::read_run_record(args.next);
  const harness::CompareResult result = harness::compare_runs(base, next, options);
  for (const auto& warning : result.warnings) std::fprintf(stderr, "osor compare: warning: %s\n", warning.c_str());
  if (args.json) std::printf("%s\n", harness::to_json(result).dump(2).c_str());
  else std::printf("%s", harness::format_compare_table(result).c_str());
  std::fflush(stdout);
  // 1 is "the check failed" (harness/cli/main.cpp keeps 2 for errors).
  if (result.regressed()) std::exit(1);
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
  cmd->add_option("--method-map", args->method_map, "match renamed methods: OLD=NEW[,OLD2=NEW2]");
  cmd->add_flag("--json", args->json, "print JSON (format osor-compare/1)");
  cmd->callback([args] { run_compare(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("compare", add_compare_command);

}  // namespace osor::cli
