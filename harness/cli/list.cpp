// osor list: what the registries hold.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "metrics/registry.h"

namespace osor::cli {

namespace {

void add_list_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("list", "List the registered metrics");
  add_json_flag(*cmd, *json);
  cmd->callback([json] {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : metrics::metric_entries()) {
      if (*json) {
        out.push_back({{"kind", "metric"}, {"name", e.name}, {"per_image", e.per_image}, {"summary", e.summary}});
      } else {
        std::printf("metric  %-14s %s\n", e.name.c_str(), e.summary.c_str());
      }
    }
    if (*json) std::printf("%s\n", out.dump(2).c_str());
  });
}

}  // namespace

OSOR_REGISTER_COMMAND("list", add_list_command);

}  // namespace osor::cli
