// osor features: a feature extractor's output for a folder of images, written as a feature file
// (harness/set_scoring.h) that `osor score --pred-features/--ref-features` and other tools can reuse.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"
#include "harness/feature_cache.h"
#include "harness/pipeline.h"
#include "harness/set_scoring.h"
#include "metrics/feature_extractor.h"
#include "model/error.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct FeaturesArgs {
  std::string net, images, out, weights, cache, preprocessing, device = "cpu";
  int64_t batch_size = 0;
  bool no_cache = false;
};

void run_features(const FeaturesArgs& args) {
  const std::string name = metrics::canonical_extractor_name(args.net);
  metrics::NetworkOptions network;
  network.weights_dir = model::resolve_weights_dir(args.weights);
  network.device = args.device;
  network.preprocessing = args.preprocessing;
  network.batch_size = args.batch_size;
  for (const std::string& id : metrics::extractor_weights_ids(name))
    if (!std::filesystem::is_regular_file(network.weights_dir / model::weights_file_info(id).relative_path))
      throw ModelError(model::missing_weights_message(network.weights_dir, id));
  const auto extractor = metrics::make_feature_extractor(name, network);
  const auto files = harness::image_files(args.images);
  std::optional<harness::FeatureCache> cache;
  if (!args.no_cache) cache.emplace(harness::FeatureCache::resolve_dir(args.cache));
  const harness::FeatureSet set = harness::extract_features(*extractor, files, cache ? &*cache : nullptr,
                                                                harness::resolve_jobs(0));
  harness::write_feature_file(args.out, set);
  std::fprintf(stderr, "osor: %s [%s]: %lld x %lld features -> %s (%lld from the cache)\n", name.c_str(),
               extractor->preprocessing().c_str(), static_cast<long long>(set.features.size(0)),
               static_cast<long long>(set.features.size(1)), args.out.c_str(), static_cast<long long>(set.cache_hits));
}

void add_features_command(CLI::App& app) {
  auto args = std::make_shared<FeaturesArgs>();
  CLI::App* cmd = app.add_subcommand("features", "Extract network features of a folder of images to a safetensors file");
  cmd->add_option("--net", args->net, "inception-fid | clip (clip-vit-l14-336)")->required();
  cmd->add_option("--images", args->images, "image folder (or one image file)")->required();
  cmd->add_option("--out", args->out, "output .safetensors: tensor 'features' [N,D] float32, metadata 'names'")
      ->required();
  add_weights_option(*cmd, args->weights);
  add_preprocessing_option(*cmd, args->preprocessing);
  add_cache_option(*cmd, args->cache);
  add_no_cache_flag(*cmd, args->no_cache);
  add_batch_size_option(*cmd, args->batch_size);
  add_device_option(*cmd, args->device);
  cmd->callback([args] { run_features(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("features", add_features_command);

}  // namespace osor::cli
