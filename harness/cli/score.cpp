// osor score: per-image metrics on explicit files or folders paired by stem, and set-level metrics (fid,
// cmmd) between a folder of predictions and a folder of references or between two feature files.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"
#include "harness/feature_cache.h"
#include "harness/file_pairs.h"
#include "harness/scoring.h"
#include "harness/set_scoring.h"
#include "metrics/pixel_options.h"
#include "metrics/registry.h"
#include "model/error.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct ScoreArgs {
  std::string metric = "psnr", channels = "rgb", region = "full", polarity = "white", device = "cpu";
  std::string pred, ref, mask;
  std::string pred_features, ref_features;
  std::string weights, cache, preprocessing, lpips_net = "alex", sqrtm = "sqrtm", cfd_mode = "official";
  int64_t batch_size = 0;
  bool json = false, no_cache = false, mmd_float64 = false;
};

metrics::NetworkOptions network_options(const ScoreArgs& args) {
  metrics::NetworkOptions network;
  network.weights_dir = model::resolve_weights_dir(args.weights);
  network.device = args.device;
  network.preprocessing = args.preprocessing;
  network.batch_size = args.batch_size;
  network.lpips_net = args.lpips_net;
  network.sqrtm = args.sqrtm;
  network.mmd_float64 = args.mmd_float64;
  network.cfd_mode = args.cfd_mode;
  return network;
}

void run_set_score(const ScoreArgs& args) {
  harness::SetScoreRequest request;
  request.metric = args.metric;
  request.network = network_options(args);
  if (!args.no_cache) request.cache_dir = harness::FeatureCache::resolve_dir(args.cache);
  harness::SetScoreResult result;
  if (!args.pred_features.empty() || !args.ref_features.empty()) {
    if (args.pred_features.empty() || args.ref_features.empty())
      throw HarnessError("--pred-features and --ref-features go together");
    result = harness::score_feature_files(args.pred_features, args.ref_features, request);
  } else {
    if (args.pred.empty() || args.ref.empty())
      throw HarnessError(args.metric + " needs --pred and --ref folders (or --pred-features and --ref-features)");
    result = harness::score_image_sets(args.pred, args.ref, request);
  }
  if (args.json) {
    std::printf("%s\n", harness::set_score_json(result).dump(2).c_str());
    return;
  }
  std::printf("# %s\n", result.convention.c_str());
  std::printf("%-32s %.6f  (n_pred=%lld, n_ref=%lld)\n", result.metric.c_str(), result.value,
              static_cast<long long>(result.n_pred), static_cast<long long>(result.n_ref));
}

void run_score(const ScoreArgs& args) {
  if (metrics::is_set_metric(args.metric)) return run_set_score(args);
  if (!args.pred_features.empty() || !args.ref_features.empty())
    throw HarnessError("--pred-features/--ref-features are for set metrics (fid, cmmd), not " + args.metric);
  // A reference-free metric (cfd) scores predictions with their masks: without --ref, each prediction stands in
  // for its own reference in the pairing (and is never read as one).
  const bool reference_free = metrics::is_reference_free_metric(args.metric);
  if (args.pred.empty() || (args.ref.empty() && !reference_free)) throw HarnessError("--pred and --ref are required");
  harness::ScoreRequest request;
  request.metric = args.metric;
  request.pixels.channels = metrics::parse_channels(args.channels);
  request.pixels.region = metrics::parse_region(args.region);
  request.polarity = harness::parse_mask_polarity(args.polarity);
  request.device = args.device;
  if (metrics::is_image_metric(args.metric) && !metrics::metric_weights_ids(args.metric, {}).empty()) {
    request.network = network_options(args);
    const auto missing = metrics::missing_weights(args.metric, request.network);
    if (!missing.empty()) throw ModelError(args.metric + " skipped: " + missing.front());
  }
  std::optional<std::filesystem::path> mask;
  if (!args.mask.empty()) mask = args.mask;
  const auto pairs = harness::pair_files(args.pred, args.ref.empty() ? args.pred : args.ref, mask);
  const harness::ScoreResult result = harness::score_pairs(pairs, request);
  if (args.json) {
    std::printf("%s\n", harness::score_json(result).dump(2).c_str());
    return;
  }
  std::printf("# %s\n", result.convention.c_str());
  for (const auto& [stem, value] : result.per_image) std::printf("%-32s %.6f\n", stem.c_str(), value);
  std::printf("%-32s %.6f  (n=%zu)\n", "mean", result.mean, result.per_image.size());
}

void add_score_command(CLI::App& app) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* cmd = app.add_subcommand(
      "score", "Score predictions against references (files, or folders paired by stem; fid/cmmd: two image sets)");
  cmd->add_option("--metric", args->metric, "psnr | ssim | ssim-uniform | lpips | fid | cmmd | cfd (reference-free: --pred and --mask)")->capture_default_str();
  add_channels_option(*cmd, args->channels);
  add_region_option(*cmd, args->region);
  cmd->add_option("--mask", args->mask, "mask file or folder (needed for --region mask|bbox)");
  add_mask_polarity_option(*cmd, args->polarity);
  cmd->add_option("--pred", args->pred, "prediction file or folder");
  cmd->add_option("--ref", args->ref, "reference file or folder");
  cmd->add_option("--pred-features", args->pred_features, "fid/cmmd: feature file of the predictions (osor features)");
  cmd->add_option("--ref-features", args->ref_features, "fid/cmmd: feature file of the references");
  add_weights_option(*cmd, args->weights);
  add_cache_option(*cmd, args->cache);
  add_no_cache_flag(*cmd, args->no_cache);
  add_preprocessing_option(*cmd, args->preprocessing);
  cmd->add_option("--sqrtm", args->sqrtm, "fid: sqrtm (scipy semantics, default) | eigh")->capture_default_str();
  cmd->add_flag("--mmd-float64", args->mmd_float64, "cmmd: the whole MMD in float64");
  cmd->add_option("--lpips-net", args->lpips_net, "lpips: alex | vgg")->capture_default_str();
  cmd->add_option("--cfd-mode", args->cfd_mode, "cfd: official (the published code, quirks kept) | corrected")
      ->capture_default_str();
  add_batch_size_option(*cmd, args->batch_size);
  add_device_option(*cmd, args->device);
  add_json_flag(*cmd, args->json);
  cmd->callback([args] { run_score(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("score", add_score_command);

}  // namespace osor::cli
