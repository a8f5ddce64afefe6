// osor latency: profiles one removal method (harness/latency/latency_profiler.h states the protocol) over
// resolutions × batch sizes, on synthetic inputs or the first samples of a benchmark; JSON or a table.
#include <CLI/CLI.hpp>

#include <ATen/Context.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "adapters/registry.h"
#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"
#include "harness/latency/latency_profiler.h"
#include "harness/latency/latency_report.h"
#include "harness/latency/synthetic_latency_inputs.h"
#include "harness/latency/system_info.h"
#include "model/weights_manifest.h"
#if OSOR_LATENCY_BENCHMARK_INPUTS
#include "harness/latency/benchmark_latency_inputs.h"
#endif

namespace osor::cli {
namespace {

struct LatencyArgs {
  std::string method, bench, data, masks = "object", weights, random_weights, device = "cpu", dtype = "fp32", out;
  std::vector<int64_t> res = {1024};
  std::vector<int> batch = {1};
  int warmup = 5, iters = 20, samples = 8;
  uint64_t seed = 0;
  std::string cudnn_benchmark = "auto";
  bool synthetic = false, json = false;
};

std::vector<adapters::RemovalInput> make_inputs(const LatencyArgs& args, int64_t res, int count) {
  if (args.bench.empty()) return harness::synthetic_inputs(res, count, args.seed);
#if OSOR_LATENCY_BENCHMARK_INPUTS
  return harness::benchmark_inputs(args.bench, args.data, args.masks, std::max(count, args.samples), res);
#else
  throw HarnessError("--bench " + args.bench + ": this build reads no image files (built with OSOR_WITH_OPENCV=OFF); "
                     "use --synthetic");
#endif
}

void run_latency(const LatencyArgs& args) {
  checked_device(args.device);
  if (args.res.empty() || args.batch.empty()) throw HarnessError("--res and --batch need at least one value");
  for (const int b : args.batch)
    if (b < 1) throw HarnessError("--batch " + std::to_string(b) + ": must be at least 1");
  const adapters::MethodSpec spec = adapters::MethodSpec::parse(args.method);
  adapters::RemoverContext context;
  context.device = args.device;
  context.dtype = args.dtype;
  context.seed = args.seed;
  context.random_weights = !args.random_weights.empty();
  context.weights_dir = context.random_weights ? std::filesystem::path(args.random_weights)
                                               : model::resolve_weights_dir(args.weights);

  // cuDNN autotuning: every new convolution shape is timed once against cuDNN's algorithms (in the warm-up);
  // "auto" = on for CUDA devices. Set before the model loads, so that nothing is picked without it.
  if (args.cudnn_benchmark != "auto" && args.cudnn_benchmark != "on" && args.cudnn_benchmark != "off")
    throw HarnessError("--cudnn-benchmark " + args.cudnn_benchmark + ": expected auto, on or off");
  const bool cudnn_benchmark =
      args.cudnn_benchmark == "on" || (args.cudnn_benchmark == "auto" && c10::Device(args.device).is_cuda());
  at::globalContext().setBenchmarkCuDNN(cudnn_benchmark);

  harness::LatencyRun run;
  run.cudnn_benchmark = cudnn_benchmark;
  run.dtype = args.dtype;
  run.device = args.device;
  run.weights = (context.random_weights ? "random: " : "files: ") + context.weights_dir.string();
  run.inputs = args.bench.empty() ? "synthetic" : "bench:" + args.bench + "/" + args.masks;
  const double load_start = harness::steady_clock_ms();
  const std::unique_ptr<adapters::Remover> remover = adapters::make_remover(spec, context);
  remover->synchronize();
  run.load_ms = harness::steady_clock_ms() - load_start;
  run.method = remover->id();

  const c10::Device device(args.device);
  const int max_batch = *std::max_element(args.batch.begin(), args.batch.end());
  for (const int64_t res : args.res) {
    const auto inputs = make_inputs(args, res, max_batch);
    for (const int batch : args.batch) {
      harness::LatencyConfig config;
      config.res = res;
      config.batch = batch;
      config.warmup = args.warmup;
      config.iters = args.iters;
      std::fprintf(stderr, "osor latency: %s res %lld batch %d: %d warm-up + %d timed iterations\n", run.method.c_str(),
                   static_cast<long long>(res), batch, config.warmup, config.iters);
      run.results.push_back(harness::profile_latency(*remover, inputs, config, device));
    }
  }
  // Read after the timed iterations, so that the GPU's current clocks are those under load.
  run.system = harness::describe_system(device);
  const nlohmann::json j = harness::latency_json(run);
  if (!args.out.empty()) harness::write_file_atomic(args.out, j.dump(2) + "\n");
  if (args.json) std::printf("%s\n", j.dump(2).c_str());
  else std::printf("%s", harness::latency_table(run).c_str());
}

void add_latency_command(CLI::App& app) {
  auto args = std::make_shared<LatencyArgs>();
  CLI::App* cmd = app.add_subcommand("latency", "Profile one removal method's latency (protocol: README, Latency)");
  add_method_option(*cmd, args->method);
  cmd->add_option("--res", args->res, "input resolution (square), repeatable or comma-separated")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--batch", args->batch, "images per timed iteration (sequential remove() calls), e.g. 1,4")
      ->delimiter(',')->capture_default_str();
  add_dtype_option(*cmd, args->dtype);
  add_device_option(*cmd, args->device);
  cmd->add_option("--cudnn-benchmark", args->cudnn_benchmark,
                  "auto | on | off: cuDNN autotuning (auto: on for cuda; the JSON records it)")
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "untimed iterations before the timed ones")->capture_default_str();
  cmd->add_option("--iters", args->iters, "timed iterations per configuration")->capture_default_str();
  auto* bench = cmd->add_option("--bench", args->bench, "inputs: the first --samples samples of this benchmark");
  auto* synthetic = cmd->add_flag("--synthetic", args->synthetic, "inputs: seeded random images, centred 25 % mask (default)");
  bench->excludes(synthetic);
  cmd->add_option("--samples", args->samples, "benchmark samples to cycle through (--bench)")->capture_default_str();
  cmd->add_option("--masks", args->masks, "object | effect: the benchmark's mask (--bench)")->capture_default_str();
  add_data_option(*cmd, args->data);
  CLI::Option* weights = add_weights_option(*cmd, args->weights);
  auto* random = cmd->add_option("--random-weights", args->random_weights,
                                 "random networks built from the config.json files of this weights-layout folder "
                                 "(no weight files; model/configs/full = the real SDXL-Inpainting configs)");
  weights->excludes(random);
  cmd->add_option("--seed", args->seed, "seed of the inputs, the method's noise and random weights")->capture_default_str();
  add_json_flag(*cmd, args->json, "the object --out writes, instead of the table");
  cmd->add_option("--out", args->out, "also write the JSON object to this file (atomically)");
  cmd->callback([args] { run_latency(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("latency", add_latency_command);

}  // namespace osor::cli
