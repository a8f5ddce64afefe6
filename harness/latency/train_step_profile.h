// Time and memory of OSOR's training step (`osor train-step`): one step = one G batch + one D batch, as `osor train`
// counts steps (model/train/trainer.h), on random networks of the real architectures (model/configs/full: SDXL
// 2.6 B or FLUX 11.9 B, the convnext_xxlarge discriminator, LPIPS-VGG) and a synthetic batch, so it needs neither
// weights nor images nor OpenCV (the GPU machine's build runs it). OSOR's reference step: batch 2 per process, 512²,
// bf16 base weights under autocast with float32 trainable tensors.
// Protocol (as `osor latency`, harness/latency/latency_profiler.h): the networks are built outside the timed region
// (load_ms); `warmup` steps run and are discarded (allocator growth, cuDNN/cuBLAS selection, AdamW's first moments);
// each timed batch is device-synchronised before and after; the host peak RSS and the device's peak allocation are
// reset before the warm-up and read after the last timed step.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "harness/latency/latency_stats.h"
#include "harness/latency/peak_memory.h"

namespace osor::harness {

struct TrainStepConfig {
  std::string backbone = "sdxl";              // sdxl or flux
  int phase = 1;
  std::filesystem::path random_config_dir;    // model/configs/full or tiny
  int64_t res = 512, batch = 2;               // square images, samples per batch
  std::string dtype = "bf16";                 // bf16 (OSOR) or fp32
  c10::Device device = c10::Device(c10::kCPU);
  int64_t lora_rank = 0;                      // 0: the backbone's official rank
  bool gradient_checkpointing = true;         // official: on
  int warmup = 1, iters = 3;                  // steps
  uint64_t seed = 0;
};

struct TrainStepProfile {
  TrainStepConfig config;
  double load_ms = 0;
  std::vector<double> step_ms, generator_ms, discriminator_ms;  // the timed steps, and their G / D batches
  LatencyStats step_stats;
  double generator_median_ms = 0, discriminator_median_ms = 0;
  HostPeak host_peak;
  DevicePeak device_peak;
  int64_t trainable_tensors = 0, trainable_parameters = 0;
  std::string description;                                  // the generator, as `osor train` prints it
  std::vector<std::pair<std::string, double>> last_losses;  // the last timed step's G and D losses
};

// HarnessError on a bad setting; ModelError from the networks.
TrainStepProfile profile_train_step(const TrainStepConfig& config);
nlohmann::json train_step_json(const TrainStepProfile& profile);

}  // namespace osor::harness
