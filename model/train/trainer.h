// OSOR's training loop on one batch at a time, either backbone (osor-*/src/engine/train_phase{1,2}.py; spec §1.2):
//   batch_count even → G step (model/train/generator_step.h); odd → D step (model/train/discriminator_step.h) on the
//   generator's output for that batch, computed without gradients; global step += 1 after each D step.
// Each step prepares its batch's latents with fresh noise (posterior and ε draws, model/train/batch_inputs.h).
// Phase II degrades the input mask (one mode per batch, model/train/mask_degradation.h); the losses and the alpha
// target use the original (gt_mask).
// All randomness comes from two seeded generators (a CPU torch generator for the noise, an mt19937_64 for the mask
// degradations) whose state is part of a checkpoint, so a resumed run continues exactly.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/train/generator_step.h"
#include "model/train/train_config.h"

namespace osor::model::train {

class AdamW;
class Discriminator;
class Generator;

// One batch as the data loader yields it (OSOR's dataset: float32 in [0, 1]); all [B,·,H,W] at one size.
struct TrainBatch {
  at::Tensor shot, bg;  // [B,3,H,W]
  at::Tensor mask;      // [B,1,H,W] in {0, 1}: the object mask (Phase II: gt_mask, before degradation)
  at::Tensor sam_mask;  // optional [B,1,H,W]: the SAM mask for the "sam" degradation
};

struct StepRecord {
  int64_t step = 0;         // the global step after this batch
  int64_t batch_count = 0;  // batches consumed, this one included
  bool generator = false;   // which network this batch updated
  std::vector<std::pair<std::string, double>> losses;  // OSOR's dict: G_total, G_l1, ... or D, D_gan, ...
  std::string mask_degradation;  // Phase II G and D batches: the mode used
};

struct TrainerOptions {
  TrainConfig config;
  int phase = 1;
  uint64_t seed = 0;
  // bf16 (OSOR's setting) or fp16: the steps run under autocast (model/train/autocast_scope.h) on the batch's
  // device; float32: plain float32.
  at::ScalarType mixed_precision = at::kFloat;
  // Data parallelism: this process trains rows [shard_index·B, (shard_index+1)·B) of a global batch of
  // shard_count·B samples. Every process draws the whole batch's noise and degradations from the same seed and
  // keeps its rows, so with averaged gradients the run equals one process on the global batch (for every loss
  // that is a batch mean; the alpha Dice sums per process, as OSOR's DDP runs).
  int64_t shard_index = 0, shard_count = 1;
};

class Trainer {
 public:
  // `generator_params`: the trainable tensors by OSOR's names (model/train/trainable_lora.h make_trainable).
  Trainer(Generator& generator, std::vector<std::pair<std::string, at::Tensor>> generator_params, Discriminator& d,
          LpipsLoss lpips, TrainerOptions options);
  ~Trainer();

  StepRecord train_on(const TrainBatch& batch);

  // Gradients of both networks pass through `hook` after backward (data-parallel averaging).
  void set_gradient_hook(GradientHook hook);

  int64_t step() const;
  int64_t batch_count() const;
  void set_progress(int64_t step, int64_t batch_count);  // resuming
  AdamW& generator_optimizer();
  AdamW& discriminator_optimizer();
  const std::vector<std::pair<std::string, at::Tensor>>& generator_parameters() const;
  // The generators' states as bytes (checkpoints) and back; ModelError on a blob of another format.
  std::string rng_state() const;
  void set_rng_state(const std::string& state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model::train
