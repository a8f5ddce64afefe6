// osor merge: the shards of one `osor eval --shard K/N` joined into one run folder (harness/shard_merge.h), with
// its tables and gallery, as `osor eval` writes them.
#include <CLI/CLI.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/cli/run_summary.h"
#include "harness/shard_merge.h"

namespace osor::cli {
namespace {

struct MergeArgs {
  std::vector<std::string> shards;
  std::string out;
  bool json = false;
};

void add_merge_command(CLI::App& app) {
  auto args = std::make_shared<MergeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Join the shards of one evaluation (osor eval --shard K/N) into one run folder, as if run unsharded");
  cmd->add_option("shards", args->shards, "the shards' run folders, all N of them, in any order")->required();
  cmd->add_option("--out", args->out, "the merged run folder (new, or empty)")->required();
  add_json_flag(*cmd, args->json, "the aggregates");
  cmd->callback([args] {
    std::vector<std::filesystem::path> dirs(args->shards.begin(), args->shards.end());
    const harness::MergeResult result = harness::merge_shards(dirs, args->out);
    print_run_summary(result.run, result.run_dir, args->json);
  });
}

}  // namespace

OSOR_REGISTER_COMMAND("merge", add_merge_command);

}  // namespace osor::cli
