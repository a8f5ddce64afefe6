// One generator update as OSOR's optimize_generator (osor-*/src/engine/train_phase{1,2}.py; spec §1.2):
//   D.eval(), D frozen;  x = G(batch)
//   loss_G = l1·L1m(x, bg, m) + lpips·LPIPS(x, bg) + gan·Gadv(D(x), m)  [+ alpha_bce·BCE + alpha_dice·Dice (Phase II)]
//   backward;  [all-reduce of the gradients across processes];  clip_grad_norm(G, max_grad_norm);  AdamW step
// m is the mask the losses use: the input mask in Phase I, the ground-truth mask in Phase II (whose latent grid,
// batch.gt_mask_latent, is the alpha target).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "model/train/loss_weights.h"
#include "model/train/occupancy.h"
#include "model/train/generator.h"
#include "model/train/step_hooks.h"

namespace osor::model::train {

class AdamW;
class Discriminator;
struct BatchLatents;

struct GeneratorStepOptions {
  LossWeights weights;
  double max_grad_norm = 1.0;
  OccupancyOptions occupancy;
};

struct GeneratorStepResult {
  GeneratorOutput output;  // detached
  // The dict OSOR's method returns (weighted terms): G_total, G_l1, G_lpips, G_disc, and in Phase II G_alpha,
  // G_alpha_bce, G_alpha_dice. 0-d, detached.
  at::Tensor total, l1, lpips, gan, alpha, alpha_bce, alpha_dice;
  at::Tensor l1_raw, lpips_raw, gan_raw;  // unweighted
  at::Tensor grad_total_norm;             // clip_grad_norm's return value (before clipping)
  std::vector<at::Tensor> fake_logits;    // D(x), detached
};

GeneratorStepResult generator_step(const Generator& generator, int64_t t, Discriminator& d, AdamW& optimizer,
                                   const BatchLatents& batch, const at::Tensor& bg, const at::Tensor& loss_mask,
                                   const GeneratorStepOptions& options, const LpipsLoss& lpips,
                                   const GradientHook& gradient_hook = {});

}  // namespace osor::model::train
