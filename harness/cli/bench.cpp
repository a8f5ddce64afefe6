// osor bench list | check: the benchmark specs of bench_data/ and whether a benchmark's files are complete.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/benchmark.h"
#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"

namespace osor::cli {
namespace {

struct BenchArgs {
  std::string name, data, sha256;
  std::vector<std::string> bench_dirs;
  bool json = false;
};

std::vector<std::filesystem::path> bench_dirs_of(const BenchArgs& args) {
  return harness::spec_folders({args.bench_dirs.begin(), args.bench_dirs.end()});
}

// The readable specs on stdout; each problem (an unreadable spec file, a name given by two files) is one warning
// line on stderr and makes the exit code 1, so a script or CI job notices a broken spec folder.
void list(const BenchArgs& args) {
  const auto catalog = harness::read_benchmark_catalog(bench_dirs_of(args));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : catalog.specs) {
    const std::string count = s.expected_count ? std::to_string(*s.expected_count) : "?";
    if (args.json) {
      out.push_back({{"name", s.name}, {"version", s.version}, {"title", s.title}, {"root", s.root},
                     {"expected_count", count}, {"effect_masks", !s.effect_mask.empty()},
                     {"layout_status", s.layout_status}, {"licence", s.licence}, {"spec", s.spec_file.string()},
                     {"sha256", s.sha256}});
    } else {
      std::printf("%-22s v%-3d %5s samples  %-13s %s\n", s.name.c_str(), s.version, count.c_str(),
                  s.effect_mask.empty() ? "object masks" : "object+effect", s.title.c_str());
    }
  }
  if (args.json) std::printf("%s\n", out.dump(1).c_str());
  std::fflush(stdout);  // the listing before the warnings when both go to one terminal
  for (const auto& problem : catalog.problems) std::fprintf(stderr, "osor: warning: %s\n", problem.c_str());
  if (!catalog.problems.empty()) throw ExitStatus{1};
}

// Exit code 1 when the check finds problems (usable in scripts), 0 when the benchmark is complete.
void check(const BenchArgs& args) {
  const auto spec = harness::find_benchmark(args.name, bench_dirs_of(args));
  const auto result = harness::check_benchmark(spec, harness::resolve_data_dir(args.data), args.sha256);
  if (args.json) {
    nlohmann::json j = {{"name", result.name}, {"root", result.root.string()}, {"samples", result.samples},
                        {"expected", result.expected ? nlohmann::json(*result.expected) : nlohmann::json(nullptr)},
                        {"problems", result.problems}, {"checked_hashes", result.checked_hashes}, {"ok", result.ok()}};
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    std::printf("benchmark %s at %s\n", result.name.c_str(), result.root.c_str());
    std::printf("  samples: %d%s\n", result.samples,
                result.expected ? (" (expected " + std::to_string(*result.expected) + ")").c_str() : "");
    if (result.checked_hashes) std::printf("  sha256 checked: %d files\n", result.checked_hashes);
    for (const auto& p : result.problems) std::printf("  problem: %s\n", p.c_str());
    std::printf("%s\n", result.ok() ? "OK" : "PROBLEMS FOUND");
  }
  if (!result.ok()) throw ExitStatus{1};
}

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "List benchmarks, or check a benchmark's files");
  cmd->require_subcommand(1);
  add_bench_dir_option(*cmd, args->bench_dirs);
  CLI::App* list_cmd = cmd->add_subcommand(
      "list",
      "List the benchmark specs. A spec file that cannot be read, or a name that two files give, is one warning "
      "line on stderr (the other specs are still listed) and exit code 1; exit code 0 when every spec is usable");
  add_json_flag(*list_cmd, args->json);
  list_cmd->callback([args] { list(*args); });
  CLI::App* check_cmd = cmd->add_subcommand("check", "Counts, missing files, unreadable images, size mismatches, sha256");
  check_cmd->add_option("name", args->name, "benchmark name")->required();
  add_data_option(*check_cmd, args->data);
  check_cmd->add_option("--sha256", args->sha256, "a 'sha256  relative/path' list to verify");
  add_json_flag(*check_cmd, args->json);
  check_cmd->callback([args] { check(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("bench", add_bench_command);

}  // namespace osor::cli
