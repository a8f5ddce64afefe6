// osor train: OSOR's generator training (Phase I or II) on CORNE-layout data (harness/train/train_run.h,
// docs/training.md). Many processes: start it under torchrun (--no-python) or srun; see docs/training.md.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/error.h"
#include "harness/train/train_run.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct TrainArgs {
  harness::train::TrainRunOptions run;
  std::string weights, random_weights, size;
  bool json = false;
};

void parse_size(const std::string& text, harness::train::TrainRunOptions& run) {
  if (text.empty()) return;
  const size_t x = text.find('x');
  try {
    if (x == std::string::npos) {
      run.short_side = std::stoll(text);
    } else {
      run.fixed_height = std::stoll(text.substr(0, x));
      run.fixed_width = std::stoll(text.substr(x + 1));
    }
  } catch (const std::exception&) {
    throw HarnessError("osor train: --size must be a short side (512) or HxW (512x768), got " + text);
  }
  const bool fixed = x != std::string::npos;
  if ((!fixed && run.short_side <= 0) ||
      (fixed && (run.fixed_height <= 0 || run.fixed_width <= 0 || run.fixed_height % 16 || run.fixed_width % 16)))
    throw HarnessError("osor train: --size " + text + ": positive, and HxW multiples of 16");
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    default: return "signal " + std::to_string(sig);
  }
}

// Ends the process by `sig` with its default action, as it would have ended without osor train's handler, so
// that a shell, torchrun or SLURM sees what happened (a shell's convention for SIGINT, a requeue script's test).
[[noreturn]] void end_by_signal(int sig) {
  std::fflush(nullptr);
  std::cout.flush();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  std::_Exit(128 + sig);  // a signal whose default action does not end the process
}

void print_json(const harness::train::TrainRunResult& r) {
  nlohmann::json j = {{"step", r.step},
                      {"batches", r.batches},
                      {"seconds", r.seconds},
                      {"steps_per_second", r.steps_per_second},
                      {"world_size", r.world_size},
                      {"last_checkpoint", r.last_checkpoint.string()},
                      {"losses", nlohmann::json::object()}};
  for (const auto& [name, v] : r.last_losses) j["losses"][name] = v;
  if (r.first_validation_psnr) j["validation_masked_psnr_first"] = *r.first_validation_psnr;
  if (r.last_validation_psnr) j["validation_masked_psnr_last"] = *r.last_validation_psnr;
  if (r.stopped_by_signal != 0) j["stopped_by_signal"] = r.stopped_by_signal;
  std::cout << j.dump(2) << std::endl;
}

void run_train(TrainArgs& args) {
  auto& run = args.run;
  parse_size(args.size, run);
  if (!args.random_weights.empty()) run.random_config_dir = args.random_weights;
  else run.weights_dir = model::resolve_weights_dir(args.weights);
  const auto r = harness::train::run_training(run);
  if (r.stopped_by_signal != 0) {
    const std::string checkpoint = r.last_checkpoint.empty() ? std::string("written by rank 0") : r.last_checkpoint.string();
    std::fprintf(stderr, "osor train: stopped by %s after step %lld; checkpoint %s; the same command with --resume continues it\n",
                 signal_name(r.stopped_by_signal).c_str(), static_cast<long long>(r.step), checkpoint.c_str());
  }
  if (!args.json) {
    if (r.stopped_by_signal == 0)
      std::fprintf(stderr, "osor train: step %lld, %.3f steps/s; last checkpoint %s\n", static_cast<long long>(r.step),
                   r.steps_per_second, r.last_checkpoint.string().c_str());
  } else {
    print_json(r);
  }
  if (r.stopped_by_signal != 0) end_by_signal(r.stopped_by_signal);
}

void add_options(CLI::App& cmd, TrainArgs& a) {
  auto& r = a.run;
  cmd.add_option("--phase", r.phase, "1: LoRA + the terminal layer; 2: + the alpha head, degraded input masks")->required();
  cmd.add_option("--backbone", r.backbone, "sdxl (OSOR-SDXL: SDXL-Inpainting) or flux (OSOR-FLUX: FLUX.1-Fill)")->capture_default_str();
  cmd.add_option("--data", r.data, "CORNE-layout training data (osor savp output, CORNE, or shot|input/ bg|gt/ mask*/ folders)")->required();
  cmd.add_option("--out", r.out, "run folder: checkpoints/, losses.csv, losses.html, run.json")->required();
  cmd.add_option("--config", r.config_file, "JSON overriding the official settings (model/train/train_config.h)");
  cmd.add_option("--init", r.init_checkpoint, "OSOR state_dict.safetensors to start from (Phase II: the Phase I result)");
  cmd.add_flag("--resume", r.resume, "continue from the newest complete checkpoint in --out, exactly");
  add_weights_option(cmd, a.weights);
  cmd.add_option("--random-weights", a.random_weights, "random networks from DIR (model/configs/tiny or full) instead of weights");
  cmd.add_option("--disc", r.disc_checkpoint, "a whole discriminator (an earlier run's discriminator.safetensors)");
  cmd.add_option("--disc-trunk", r.disc_trunk, "OpenCLIP convnext_xxlarge trunk (safetensors); fresh heads");
  cmd.add_option("--steps", r.steps, "global steps (one G and one D batch each); default 15000 (Phase I), 5000 (II)");
  cmd.add_option("--batch", r.batch_size, "samples per batch and process")->capture_default_str();
  cmd.add_option("--size", a.size, "resize: short side (then ceil to x16) or a fixed HxW; default the backbone's official "
                                   "(SDXL short side 512, FLUX native size; both ceiled to x16)");
  cmd.add_option("--lora-rank", r.lora_rank, "LoRA rank of fresh adapters (default official: SDXL 256, FLUX 64)");
  cmd.add_option("--lora-alpha", r.lora_alpha, "LoRA alpha of fresh adapters (default: the rank)");
  cmd.add_option("--seed", r.seed, "seed of every random draw (noise, degradations, data order)")->capture_default_str();
  add_device_option(cmd, r.device);
  cmd.add_flag("--no-gradient-checkpointing", r.no_gradient_checkpointing,
               "keep the blocks' activations instead of recomputing them in backward (faster, more memory; official: on)");
  cmd.add_option("--dtype", r.dtype, "fp32 or bf16 (bf16 base weights under autocast, float32 trainable tensors)")->capture_default_str();
  cmd.add_option("--checkpoint-every", r.checkpoint_every, "steps between checkpoints")->capture_default_str();
  cmd.add_option("--keep-last", r.keep_last, "checkpoints kept (0: all)")->capture_default_str();
  cmd.add_option("--log-every", r.log_every, "steps between rows of losses.csv")->capture_default_str();
  cmd.add_option("--plot-every", r.plot_every, "steps between redraws of losses.html / losses.svg")->capture_default_str();
  cmd.add_option("--validate-every", r.validate_every, "steps between masked-PSNR validations (0: off)")->capture_default_str();
  cmd.add_option("--validate-samples", r.validate_samples, "training samples the validation uses")->capture_default_str();
  cmd.add_option("--eval-every", r.eval_every, "steps between osor eval runs of the checkpoint (0: off; needs --weights)")->capture_default_str();
  cmd.add_option("--eval-bench", r.eval_bench, "benchmark of the periodic evaluation")->capture_default_str();
  cmd.add_option("--eval-metrics", r.eval_metrics, "metrics of the periodic evaluation")->capture_default_str();
  cmd.add_option("--eval-limit", r.eval_limit, "samples per periodic evaluation (0: all)")->capture_default_str();
  cmd.add_option("--eval-data", r.eval_data, "data root of the evaluation benchmark (as osor eval --data)");
  cmd.add_option("--loader-threads", r.loader_threads, "decoding threads of the data loader")->capture_default_str();
  add_json_flag(cmd, a.json, "a summary of the run");
}

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train OSOR's generator (SDXL or FLUX, Phase I or II) with its discriminator on "
                                               "CORNE-layout data");
  add_options(*cmd, *args);
  cmd->footer("Stopping: SIGINT (Ctrl-C), SIGTERM or SIGUSR1 stops the run after the current step with a checkpoint of it "
              "(the same signal again: at once); the same command with --resume continues exactly.\n"
              "Many processes: start it under torchrun --no-python or srun (docs/training.md).");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("train", add_train_command);

}  // namespace osor::cli
