// The parts of an `osor train` run built from its options (harness/train/train_run.h): the discriminator, the
// LPIPS-VGG loss network, the trainer's config, the data's resize, and the run description a resume is checked
// against.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/train/corne_dataset.h"
#include "harness/train/train_run.h"
#include "metrics/networks/lpips_net.h"
#include "model/train/discriminator.h"
#include "model/train/train_config.h"

namespace osor::harness::train {

int64_t official_steps(int phase);  // 15000 (Phase I), 5000 (Phase II)
// --backbone sdxl|flux (HarnessError otherwise).
model::train::Backbone backbone_of(const TrainRunOptions& options);

// What decides the run (written to <out>/run.json).
nlohmann::json settings_json(const TrainRunOptions& options, int64_t steps, int64_t world_size);
// HarnessError naming the setting when <out>/run.json describes a different run than `now`.
void check_resumable(const std::filesystem::path& run_json, const nlohmann::json& now);

// --disc (a whole D), --disc-trunk (OpenCLIP trunk, fresh heads) or, with random weights, the config's tiny/full D
// with random weights; on `device`.
model::train::Discriminator build_discriminator(const TrainRunOptions& options, const c10::Device& device);
metrics::LpipsNet build_lpips(const TrainRunOptions& options, const c10::Device& device);
model::train::TrainConfig build_config(const TrainRunOptions& options);
// A fixed size, a short side, or the backbone's official policy (SDXL short side 512, FLUX native) — ceil to ×16.
ResizeOptions resize_options(const TrainRunOptions& options);

}  // namespace osor::harness::train
