// osor eval: methods × benchmarks × metrics × mask settings → a run folder and its tables.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <set>
#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/cli/run_summary.h"
#include "harness/error.h"
#include "harness/runner.h"
#include "metrics/pixel_options.h"

namespace osor::cli {
namespace {

struct EvalArgs {
  std::vector<std::string> benches, methods, metrics, masks;
  std::string channels = "rgb", region = "full", data, weights, cache, out, device = "cpu", dtype = "fp32";
  std::string cfd_mode = "official";
  std::string shard;
  std::vector<std::string> bench_dirs;
  uint64_t seed = 0;
  int resamples = 1000, limit = 0, max_failed = 0, jobs = 0;
  bool resume = false, fail_fast = false, json = false;
};

std::vector<std::string> split_commas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    size_t start = 0;
    while (start <= item.size()) {
      const size_t end = std::min(item.find(',', start), item.size());
      if (end > start) out.push_back(item.substr(start, end - start));
      start = end + 1;
    }
  }
  return out;
}

// runs/<date>-<time>, and -shard-K-of-N for a shard (its siblings start in the same second).
std::string default_run_dir(const harness::Shard& shard) {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  if (shard.whole()) return buf;
  return std::string(buf) + "-shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count);
}

// The configuration keys (harness::config_to_json) of the options given on this command line.
std::set<std::string> given_keys(const CLI::App& cmd) {
  static const std::vector<std::pair<const char*, const char*>> option_keys = {
      {"--bench", "benches"},   {"--method", "methods"},  {"--metrics", "metrics"}, {"--masks", "masks"},
      {"--channels", "channels"}, {"--region", "region"}, {"--data", "data_dir"}, {"--bench-dir", "extra_bench_dirs"},   {"--weights", "weights_dir"},
      {"--cache", "cache_dir"}, {"--device", "device"},   {"--dtype", "dtype"},     {"--seed", "seed"},
      {"--cfd-mode", "cfd_mode"},
      {"--bootstrap", "bootstrap_resamples"}, {"--limit", "limit"}, {"--shard", "shard"}};
  std::set<std::string> keys;
  for (const auto& [option, key] : option_keys)
    if (cmd.count(option) > 0) keys.insert(key);
  return keys;
}

void run(const EvalArgs& args, const CLI::App& cmd) {
  harness::EvalConfig config;
  if (!args.benches.empty()) config.benches = split_commas(args.benches);
  // Method texts keep their commas (options); several methods are given as repeated --method.
  if (!args.methods.empty()) config.methods = args.methods;
  config.metrics = split_commas(args.metrics);
  if (!args.masks.empty()) config.masks = split_commas(args.masks);
  config.pixels.channels = metrics::parse_channels(args.channels);
  config.pixels.region = metrics::parse_region(args.region);
  config.data_dir = args.data;
  config.extra_bench_dirs.assign(args.bench_dirs.begin(), args.bench_dirs.end());
  config.weights_dir = args.weights;
  config.cache_dir = args.cache;
  if (!args.shard.empty()) config.shard = harness::parse_shard(args.shard);
  config.out_dir = args.out.empty() ? default_run_dir(config.shard) : args.out;
  if (args.max_failed < 0) throw HarnessError("--max-failed must be 0 or more");
  config.device = harness::resolve_device(args.device);
  config.dtype = args.dtype;
  config.cfd_mode = args.cfd_mode;
  config.seed = args.seed;
  config.bootstrap_resamples = args.resamples;
  config.limit = args.limit;
  config.fail_fast = args.fail_fast;
  harness::EvalOptions options;
  options.resume = args.resume;
  options.jobs = args.jobs;
  options.unique_out_dir = args.out.empty();
  options.given = given_keys(cmd);
  if (args.resume && args.out.empty()) throw HarnessError("--resume needs --out, the run folder to continue");
  const harness::EvalResult result = harness::run_eval(config, options);
  print_run_summary(result.run, result.run_dir, args.json);
  const harness::RunFailures failures = harness::count_failures(result.run);
  if (failures.total() > args.max_failed) {
    std::fflush(stdout);
    std::fprintf(stderr,
                 "osor eval: %d sample(s) and %d set-metric cell(s) failed (allowed: --max-failed %d); the run and its "
                 "reports are written in %s\n",
                 failures.samples, failures.set_cells, args.max_failed, result.run_dir.c_str());
    throw ExitStatus{3};
  }
}

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate methods on benchmarks (default: the bundled sample with identity, opencv-telea, opencv-ns)");
  cmd->add_option("--bench", args->benches,
                  "benchmark name(s) of the spec folders, or spec files NAME.json (comma-separated or repeated)");
  add_bench_dir_option(*cmd, args->bench_dirs);
  add_methods_option(*cmd, args->methods);
  cmd->add_option("--metrics", args->metrics, "psnr,ssim,... (default: every metric whose weights are present)");
  cmd->add_option("--masks", args->masks, "object,effect (default both; effect only where the benchmark has effect masks)");
  add_channels_option(*cmd, args->channels);
  add_region_option(*cmd, args->region);
  add_data_option(*cmd, args->data);
  add_weights_option(*cmd, args->weights);
  add_cache_option(*cmd, args->cache);
  cmd->add_option("--out", args->out, "run folder (default runs/<date>-<time>, with -2, -3, ... when taken)");
  add_device_option(*cmd, args->device)->description("cpu | cuda[:N] | cuda:auto (the GPU of $LOCAL_RANK or $SLURM_LOCALID)");
  add_dtype_option(*cmd, args->dtype);
  cmd->add_option("--cfd-mode", args->cfd_mode, "cfd: official (the published code, quirks kept) | corrected")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "seed for stochastic methods and the bootstrap")->capture_default_str();
  cmd->add_option("--bootstrap", args->resamples, "bootstrap resamples for the 95% intervals")->capture_default_str();
  cmd->add_option("--limit", args->limit, "at most N samples per benchmark (0: all)")->capture_default_str();
  cmd->add_option("--shard", args->shard,
                  "K/N: evaluate only work items i with i mod N = K, in a run folder of its own (join the shards with "
                  "osor merge); auto: from RANK/WORLD_SIZE or SLURM_ARRAY_TASK_ID/COUNT");
  cmd->add_option("--jobs", args->jobs,
                  "threads that decode, score and write while the method runs (0: every usable core); results do not "
                  "depend on it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_resume_flag(*cmd, args->resume);
  add_fail_fast_flag(*cmd, args->fail_fast);
  cmd->add_option("--max-failed", args->max_failed,
                  "exit 0 with up to N failed samples and set-metric cells; more exit 3 (the run is written either way)")
      ->capture_default_str();
  add_json_flag(*cmd, args->json, "the aggregates");
  cmd->callback([args, cmd] { run(*args, *cmd); });
}

}  // namespace

OSOR_REGISTER_COMMAND("eval", add_eval_command);

}  // namespace osor::cli
