// osor cache info|clear: the feature cache (harness/feature_cache.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/feature_cache.h"

namespace osor::cli {
namespace {

struct CacheArgs {
  std::string cache;
  bool json = false;
};

void run_info(const CacheArgs& args) {
  const harness::FeatureCache cache(harness::FeatureCache::resolve_dir(args.cache));
  const auto info = cache.info();
  if (args.json) {
    std::printf("%s\n", nlohmann::json{{"dir", cache.dir().string()},
                                       {"entries", info.entries},
                                       {"bytes", info.bytes},
                                       {"stray_temporaries", info.stray_temporaries},
                                       {"groups", info.entries_by_group}}
                            .dump(2)
                            .c_str());
    return;
  }
  std::printf("feature cache %s: %llu entries, %.1f MB\n", cache.dir().string().c_str(),
              static_cast<unsigned long long>(info.entries), static_cast<double>(info.bytes) / 1e6);
  for (const auto& [group, n] : info.entries_by_group)
    std::printf("  %-60s %llu\n", group.c_str(), static_cast<unsigned long long>(n));
  if (info.stray_temporaries)
    std::printf("  %llu temporary files of interrupted writes (removed by osor cache clear)\n",
                static_cast<unsigned long long>(info.stray_temporaries));
}

void run_clear(const CacheArgs& args) {
  const harness::FeatureCache cache(harness::FeatureCache::resolve_dir(args.cache));
  const auto removed = cache.clear();
  std::printf("feature cache %s: removed %llu entries\n", cache.dir().string().c_str(),
              static_cast<unsigned long long>(removed));
}

void add_cache_command(CLI::App& app) {
  auto args = std::make_shared<CacheArgs>();
  CLI::App* cmd = app.add_subcommand("cache", "The feature cache: `osor cache info|clear`");
  cmd->require_subcommand(1);
  CLI::App* info = cmd->add_subcommand("info", "Entries and size of the feature cache");
  add_cache_option(*info, args->cache);
  add_json_flag(*info, args->json);
  info->callback([args] { run_info(*args); });
  CLI::App* clear = cmd->add_subcommand("clear", "Remove every entry of the feature cache");
  add_cache_option(*clear, args->cache);
  clear->callback([args] { run_clear(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("cache", add_cache_command);

}  // namespace osor::cli
