// Training checkpoints: everything `osor train --resume` needs to continue a run exactly, in a folder per step.
//
// <out>/checkpoints/step-<NNNNNNN>/    (the step = global_step, one per D step, zero-padded to 7 digits)
//   state_dict.safetensors     the generator's trainable tensors under OSOR's own names (PEFT
//                              `unet.<module>.lora_{A,B}.default.weight`, `unet.conv_out.weight`, ...), fp32 as the
//                              official save_model_hook's state_dict.pth holds them; metadata lora_alpha / r when
//                              given. This is the file OSOR's inference loader (`osor remove --weights`) reads.
//   discriminator.safetensors  the discriminator's state dict (SMMPatchGAN names) as given
//   optimizer.safetensors      AdamW state per parameter: `generator.<name>.{exp_avg,exp_avg_sq,step}` and
//                              `discriminator.<name>.{...}`; `step` is an I64 scalar, the moments are absent while
//                              they are undefined (before a parameter's first update)
//   trainer_state.json         step, batch count, data cursor, RNG blobs (base64), the run's config JSON; written
//                              last, so a folder without it is not a checkpoint
//
// The official trainer saves through accelerate into `checkpoint-<step>/` and deletes the oldest checkpoints
// *before* writing the new one (train_phase1.py save_checkpoint); here a checkpoint is written into a temporary
// sibling (`.step-<NNNNNNN>.tmp<pid>`), every file and the folder are fsynced, the folder is renamed into place,
// and only then are the oldest complete checkpoints beyond keep-last-N deleted. A crash leaves either the
// previous set or the new one; temporary folders are never read and the next save deletes them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "model/train/adamw.h"

namespace osor::model::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using NamedAdamWStates = std::vector<std::pair<std::string, AdamWState>>;

struct TrainingState {
  int64_t step = 0;         // global_step: completed D steps
  int64_t batch_count = 0;  // batches consumed (G and D)
  NamedTensors generator;             // trainable generator tensors, official names
  NamedTensors discriminator;         // discriminator state dict
  NamedAdamWStates generator_optimizer, discriminator_optimizer;
  std::map<std::string, std::string> rng;  // opaque blobs (bytes), e.g. a torch generator state, an mt19937_64 text
  int64_t data_epoch = 0, data_position = 0;  // the data loader's cursor: the next batch to read
  std::string config_json = "{}";            // the run's settings (config, phase, backbone): any JSON text
  std::map<std::string, std::string> generator_metadata;  // state_dict.safetensors __metadata__ (lora_alpha, r)
};

// The folder name of `step`: "step-0001000".
std::string checkpoint_folder_name(int64_t step);

// Writes `state` as <out_dir>/checkpoints/step-<NNNNNNN>/ (replacing a complete checkpoint of the same step),
// then deletes the oldest complete checkpoints so that at most `keep_last` remain (0 keeps all) and any temporary
// folders a crashed save left behind. Returns the checkpoint folder. Throws ModelError naming the file.
std::filesystem::path save_checkpoint(const std::filesystem::path& out_dir, const TrainingState& state,
                                      int64_t keep_last = 0);

// Complete checkpoints under <out_dir>/checkpoints, oldest first (by step).
std::vector<std::filesystem::path> complete_checkpoints(const std::filesystem::path& out_dir);
// The newest complete checkpoint, or nullopt when there is none.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& out_dir);

// Reads a checkpoint folder. Every tensor is an owning CPU copy with the dtype it was saved with. Throws
// ModelError naming the file: a missing file, malformed JSON or base64, optimizer entries for a parameter the
// checkpoint does not hold, a moment whose shape differs from its parameter's.
TrainingState load_checkpoint(const std::filesystem::path& checkpoint_dir);

// Copies `stored` into the live tensors `live` (same names, shapes; values cast to the live dtype and device) under
// no-grad. Throws ModelError naming `file` and the tensor when a name is missing on either side or a shape differs.
void restore_tensors(const std::string& file, const NamedTensors& live, const NamedTensors& stored);

// Copies stored AdamW state into `optimizer` (moments moved to each parameter's device and dtype), checking that
// the names are the optimizer's parameters and the shapes agree; ModelError naming `file` otherwise.
void restore_adamw(const std::string& file, AdamW& optimizer, const NamedAdamWStates& stored);

// The AdamW state of every parameter of `optimizer`, in parameter order (the tensors are shared, not copied).
NamedAdamWStates adamw_states(AdamW& optimizer);

// RNG blobs for TrainingState::rng. The default CPU generator's state (at::Generator::get_state bytes: the
// mt19937 state and the cached normal) and back; a std::mt19937_64 as its standard text form and back (ModelError
// naming `what` when the blob is not one).
std::string cpu_generator_state();
void set_cpu_generator_state(const std::string& blob);
std::string mt19937_64_state(const std::mt19937_64& rng);
void set_mt19937_64_state(std::mt19937_64& rng, const std::string& blob, const std::string& what);

}  // namespace osor::model::train
