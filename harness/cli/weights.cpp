// osor weights check: every file of the weights manifest, whether it is present, and whether its sha256
// matches where the manifest pins one. Exit code 1 when a pinned hash does not match.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/sha256.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct WeightsArgs {
  std::string weights;
  bool json = false;
};

void run_check(const WeightsArgs& args) {
  const std::filesystem::path dir = model::resolve_weights_dir(args.weights);
  nlohmann::json rows = nlohmann::json::array();
  bool mismatch = false;
  if (!args.json) std::printf("# weights folder %s\n", dir.string().c_str());
  for (const auto& w : model::weights_manifest()) {
    const std::filesystem::path path = dir / w.relative_path;
    std::string status;
    if (!std::filesystem::is_regular_file(path)) {
      status = "missing";
    } else if (w.sha256.empty()) {
      status = "present";  // no hash pinned in the manifest: nothing to verify
    } else {
      status = harness::sha256_file(path) == w.sha256 ? "verified" : "sha256-mismatch";
      mismatch = mismatch || status == "sha256-mismatch";
    }
    if (args.json) {
      rows.push_back({{"id", w.id}, {"file", w.relative_path}, {"path", path.string()}, {"status", status},
                      {"needed_by", w.needed_by}, {"source", w.source}, {"sha256", w.sha256}});
    } else {
      std::printf("%-16s %-28s %s  (%s)\n", status.c_str(), w.id.c_str(), w.relative_path.c_str(), w.needed_by.c_str());
      if (status == "missing") std::printf("%-16s %-28s get it from %s\n", "", "", w.source.c_str());
      if (status == "sha256-mismatch") std::printf("%-16s %-28s expected sha256 %s\n", "", "", w.sha256.c_str());
    }
  }
  if (args.json) std::printf("%s\n", nlohmann::json{{"weights_dir", dir.string()}, {"files", rows}}.dump(2).c_str());
  if (mismatch) throw CLI::RuntimeError(1);
}

void add_weights_command(CLI::App& app) {
  auto args = std::make_shared<WeightsArgs>();
  CLI::App* cmd = app.add_subcommand("weights", "Weights files: `osor weights check`");
  cmd->require_subcommand(1);
  CLI::App* check = cmd->add_subcommand("check", "List every weights file of the manifest: present / missing / verified");
  check->add_option("--weights", args->weights, "weights folder (default $OSOR_WEIGHTS, then ~/.cache/osor/weights)");
  check->add_flag("--json", args->json, "print JSON");
  check->callback([args] { run_check(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("weights", add_weights_command);

}  // namespace osor::cli
