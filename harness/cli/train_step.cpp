// osor train-step: time and peak memory of one OSOR training step (one G + one D batch) on random networks of the
// real architectures and a synthetic batch (harness/latency/train_step_profile.h states the protocol). No images and
// no OpenCV: part of every build, the GPU machine's included.
#include <CLI/CLI.hpp>

#include <ATen/Context.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/latency/train_step_profile.h"

namespace osor::cli {
namespace {

struct TrainStepArgs {
  harness::TrainStepConfig config;
  std::string random_weights, device = "cpu", out;
  bool json = false, no_gradient_checkpointing = false;
};

void run_train_step(TrainStepArgs& args) {
  auto& c = args.config;
  c.device = checked_device(args.device);
  c.random_config_dir = args.random_weights;
  c.gradient_checkpointing = !args.no_gradient_checkpointing;
  at::globalContext().setBenchmarkCuDNN(c.device.is_cuda());  // as osor latency's "auto"
  std::fprintf(stderr, "osor train-step: %s Phase %d, %lld² batch %lld, %s on %s, gradient checkpointing %s: %d warm-up + "
               "%d timed steps\n", c.backbone.c_str(), c.phase, static_cast<long long>(c.res),
               static_cast<long long>(c.batch), c.dtype.c_str(), c.device.str().c_str(),
               c.gradient_checkpointing ? "on" : "off", c.warmup, c.iters);
  const harness::TrainStepProfile p = harness::profile_train_step(c);
  const nlohmann::json j = harness::train_step_json(p);
  if (!args.out.empty()) harness::write_file_atomic(args.out, j.dump(2) + "\n");
  if (args.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  const double gib = 1024.0 * 1024.0 * 1024.0;
  std::printf("%s\nstep (G + D batch): median %.1f ms (%.3f steps/s); G %.1f ms, D %.1f ms; load %.0f ms\n",
              p.description.c_str(), p.step_stats.median, p.step_stats.median > 0 ? 1000.0 / p.step_stats.median : 0.0,
              p.generator_median_ms, p.discriminator_median_ms, p.load_ms);
  std::printf("peak memory: device %s, host RSS %.2f GiB; %lld trainable tensors, %lld parameters\n",
              p.device_peak.allocated_bytes < 0
                  ? "not measured"
                  : (std::to_string(static_cast<double>(p.device_peak.allocated_bytes) / gib).substr(0, 6) + " GiB").c_str(),
              static_cast<double>(p.host_peak.bytes) / gib, static_cast<long long>(p.trainable_tensors),
              static_cast<long long>(p.trainable_parameters));
}

void add_train_step_command(CLI::App& app) {
  auto args = std::make_shared<TrainStepArgs>();
  CLI::App* cmd = app.add_subcommand("train-step", "Time one OSOR training step (G + D batch) on random networks and a "
                                                   "synthetic batch: milliseconds and peak memory");
  auto& c = args->config;
  cmd->add_option("--backbone", c.backbone, "sdxl or flux")->capture_default_str();
  cmd->add_option("--phase", c.phase, "1 or 2 (the alpha head, degraded masks)")->capture_default_str();
  cmd->add_option("--random-weights", args->random_weights,
                  "configs of the random networks: model/configs/full (the real architectures) or model/configs/tiny")
      ->required();
  cmd->add_option("--res", c.res, "square image side (OSOR trains at 512)")->capture_default_str();
  cmd->add_option("--batch", c.batch, "samples per batch (OSOR: 2 per GPU)")->capture_default_str();
  cmd->add_option("--dtype", c.dtype, "bf16 (bf16 base weights under autocast, float32 trainable tensors: OSOR) or fp32")
      ->capture_default_str();
  add_device_option(*cmd, args->device);
  cmd->add_flag("--no-gradient-checkpointing", args->no_gradient_checkpointing,
                "keep the blocks' activations instead of recomputing them (official: recompute)");
  cmd->add_option("--lora-rank", c.lora_rank, "LoRA rank (default the official: SDXL 256, FLUX 64)");
  cmd->add_option("--warmup", c.warmup, "untimed steps first")->capture_default_str();
  cmd->add_option("--iters", c.iters, "timed steps")->capture_default_str();
  cmd->add_option("--seed", c.seed, "seed of the random networks and the batch")->capture_default_str();
  add_json_flag(*cmd, args->json);
  cmd->add_option("--out", args->out, "also write the JSON object to this file (atomically)");
  cmd->callback([args] { run_train_step(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("train-step", add_train_step_command);

}  // namespace osor::cli
