// osor score: per-image metrics on explicit files or folders paired by stem.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/file_pairs.h"
#include "harness/scoring.h"
#include "metrics/pixel_options.h"

namespace osor::cli {
namespace {

struct ScoreArgs {
  std::string metric = "psnr", channels = "rgb", region = "full", polarity = "white", device = "cpu";
  std::string pred, ref, mask;
  bool json = false;
};

void run_score(const ScoreArgs& args) {
  harness::ScoreRequest request;
  request.metric = args.metric;
  request.pixels.channels = metrics::parse_channels(args.channels);
  request.pixels.region = metrics::parse_region(args.region);
  request.polarity = harness::parse_mask_polarity(args.polarity);
  request.device = args.device;
  std::optional<std::filesystem::path> mask;
  if (!args.mask.empty()) mask = args.mask;
  const auto pairs = harness::pair_files(args.pred, args.ref, mask);
  const harness::ScoreResult result = harness::score_pairs(pairs, request);
  if (args.json) {
    std::printf("%s\n", harness::score_json(result).dump(2).c_str());
    return;
  }
  std::printf("# %s\n", result.convention.c_str());
  for (const auto& [stem, value] : result.per_image) std::printf("%-32s %.6f\n", stem.c_str(), value);
  std::printf("%-32s %.6f  (n=%zu)\n", "mean", result.mean, result.per_image.size());
}

}  // namespace

namespace {

void add_score_command(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* cmd = app.add_subcommand("score", "Score predictions against references (files, or folders paired by stem)");
  cmd->add_option("--metric", args->metric, "psnr | ssim | ssim-uniform")->capture_default_str();
  cmd->add_option("--channels", args->channels, "rgb | y (BT.601 luma)")->capture_default_str();
  cmd->add_option("--region", args->region, "full | mask | bbox")->capture_default_str();
  cmd->add_option("--mask", args->mask, "mask file or folder (needed for --region mask|bbox)");
  cmd->add_option("--mask-polarity", args->polarity, "white | black: which mask colour marks the object")
      ->capture_default_str();
  cmd->add_option("--pred", args->pred, "prediction file or folder")->required();
  cmd->add_option("--ref", args->ref, "reference file or folder")->required();
  cmd->add_option("--device", args->device, "cpu | cuda[:N]")->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([args] { run_score(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("score", add_score_command);

}  // namespace osor::cli
