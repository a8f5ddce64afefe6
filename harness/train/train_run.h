// `osor train`: one training run of OSOR's generator (SDXL or FLUX, Phase I or II) on CORNE-layout data, from the command line's
// settings to checkpoints, a loss log and plots (docs/training.md):
//   <out>/checkpoints/step-NNNNNNN/   model/train/checkpoint.h (state_dict.safetensors loads in `osor remove`)
//   <out>/losses.csv, losses.html, losses.svg   harness/train/loss_log.h
//   <out>/run.json                    the settings of the run (a resumed run refuses a different phase or data)
//   <out>/eval/step-NNNNNNN/          periodic `osor eval` runs of the checkpoint (osor-sdxl / osor-flux; real weights)
// --resume continues from the newest complete checkpoint exactly: parameters, optimizer moments, random
// generators and the data cursor.
// SIGINT (Ctrl-C), SIGTERM (a scheduler's cancel or preemption, torchrun's shutdown) and SIGUSR1 (SLURM's
// --signal=USR1@SECONDS warning before the time limit) stop the run at the end of the current step, with a
// checkpoint there, on every process alike; the same signal again ends it at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace osor::harness::train {

struct TrainRunOptions {
  int phase = 1;
  std::string backbone = "sdxl";           // sdxl (OSOR-SDXL) or flux (OSOR-FLUX)
  std::filesystem::path data, out, config_file, init_checkpoint;
  std::filesystem::path weights_dir;        // the backbone, its prompt cache, LPIPS-VGG (the weights layout)
  std::filesystem::path random_config_dir;  // instead of weights: random networks from these configs
  std::filesystem::path disc_checkpoint;    // a whole D (discriminator.safetensors of an earlier run)
  std::filesystem::path disc_trunk;         // or an OpenCLIP ConvNeXt trunk with fresh heads
  bool resume = false;
  int64_t steps = 0;           // global steps (D steps) to reach; 0: the phase's official count (15000 / 5000)
  int64_t batch_size = 2;      // per process
  int64_t short_side = 0;      // resize the short side to this, then ceil to ×16; 0: the backbone's official resize
                               // (SDXL: short side 512; FLUX: native size ceiled to ×16), unless a fixed size
  int64_t fixed_height = 0, fixed_width = 0;
  int64_t lora_rank = 0;       // fresh adapters; 0: official (SDXL 256, FLUX 64)
  double lora_alpha = 0;       // 0: = the rank
  uint64_t seed = 0;
  bool no_gradient_checkpointing = false;  // overrides the config's gradient_checkpointing (official: on)
  std::string device = "cpu", dtype = "fp32";  // dtype bf16: bf16 base weights and autocast (OSOR's setting)
  int64_t checkpoint_every = 500, keep_last = 3, log_every = 10, plot_every = 50;
  int64_t validate_every = 0, validate_samples = 4;  // masked PSNR of the generator on the first samples
  int64_t eval_every = 0;                            // osor eval of the checkpoint (needs real weights)
  std::string eval_bench = "sample", eval_metrics = "psnr,ssim,lpips";
  int64_t eval_limit = 0;                            // samples per evaluation (0: the whole benchmark)
  std::filesystem::path eval_data;                   // the benchmark's data root (default: $OSOR_DATA / bundled)
  int64_t loader_threads = 2, prefetch = 4;
  bool progress = true;
};

struct TrainRunResult {
  int64_t step = 0, batches = 0;
  std::filesystem::path last_checkpoint;
  double seconds = 0, steps_per_second = 0;
  std::vector<std::pair<std::string, double>> last_losses;
  std::optional<double> first_validation_psnr, last_validation_psnr;  // masked PSNR (dB) when validating
  int64_t world_size = 1;
  // The signal that stopped the run before its last step (after the checkpoint of `step`); 0 when it ran to the
  // end. The caller should then end by that signal, as the process would have without the handler.
  int stopped_by_signal = 0;
};

// HarnessError (bad settings, data or files; raised before anything is written where it can be) and ModelError.
TrainRunResult run_training(const TrainRunOptions& options);

}  // namespace osor::harness::train
