// osor list: what the registries hold — metrics, method families and benchmark specs.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "adapters/registry.h"
#include "harness/benchmark.h"
#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "metrics/registry.h"

namespace osor::cli {

namespace {

struct ListArgs {
  std::vector<std::string> bench_dirs;
  bool json = false;
};

nlohmann::json list_entries(const ListArgs& args) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : metrics::metric_entries())
    out.push_back({{"kind", "metric"}, {"name", e.name}, {"per_image", e.per_image}, {"summary", e.summary},
                   {"convention", metrics::metric_convention(e.name)}, {"reference_free", e.reference_free}});
  for (const auto& e : adapters::method_entries())
    out.push_back({{"kind", "method"}, {"name", e.name}, {"summary", e.summary}});
  // The benchmarks the catalog can use; a broken spec file is `osor bench list`'s to report.
  const auto catalog = harness::read_benchmark_catalog(harness::spec_folders({args.bench_dirs.begin(), args.bench_dirs.end()}));
  for (const auto& spec : catalog.specs)
    out.push_back({{"kind", "benchmark"}, {"name", spec.name}, {"version", spec.version}, {"summary", spec.title}});
  return out;
}

void add_list_command(CLI::App& app) {
  auto args = std::make_shared<ListArgs>();
  CLI::App* cmd = app.add_subcommand("list", "List the registered metrics, methods and benchmarks");
  add_bench_dir_option(*cmd, args->bench_dirs);
  add_json_flag(*cmd, args->json);
  cmd->callback([args] {
    const nlohmann::json entries = list_entries(*args);
    if (args->json) {
      std::printf("%s\n", entries.dump(2).c_str());
      return;
    }
    for (const auto& e : entries) {
      std::printf("%-9s  %-22s %s\n", e["kind"].get<std::string>().c_str(), e["name"].get<std::string>().c_str(),
                  e["summary"].get<std::string>().c_str());
      if (e.contains("convention")) std::printf("%-9s  %-22s convention %s\n", "", "", e["convention"].get<std::string>().c_str());
    }
  });
}

}  // namespace

OSOR_REGISTER_COMMAND("list", add_list_command);

}  // namespace osor::cli
