// One discriminator update as OSOR's optimize_discriminator (osor-*/src/engine/train_phase{1,2}.py; spec §1.2):
//   D.train() (heads only);  real = D(bg)  [power iteration 1];  fake = D(x.detach())  [power iteration 2]
//   loss_D = d_loss(real, fake, m) + gp · R1(real features, heads)  [power iteration 3];  backward;  AdamW step
// (no clipping). x is the generator's output computed without gradients; m the (ground-truth) mask.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "model/train/loss_weights.h"
#include "model/train/occupancy.h"
#include "model/train/step_hooks.h"

namespace osor::model::train {

class AdamW;
class Discriminator;
struct DiscriminatorOutput;

struct DiscriminatorStepResult {
  // The dict OSOR's method returns: D (total), D_gan, D_gp (weighted R1), D_logits_real / _fake (mean over heads of
  // each head's mean logit); all 0-d, detached.
  at::Tensor total, gan, gp, logits_real, logits_fake;
  at::Tensor r1_raw;                              // unweighted R1
  std::vector<at::Tensor> real_logits, fake_logits;  // detached
};

// `observe` (optional) is called after each of the three head passes ("D0" real, "D1" fake, "R1") so a caller
// can record the spectral-norm buffers, as the fixtures do. `gradient_hook` sees the heads' gradients before the
// optimizer step.
DiscriminatorStepResult discriminator_step(Discriminator& d, AdamW& optimizer, const at::Tensor& real_images,
                                           const at::Tensor& fake_images, const at::Tensor& mask,
                                           const LossWeights& weights, const OccupancyOptions& occupancy = {},
                                           const std::function<void(const std::string& pass)>& observe = {},
                                           const GradientHook& gradient_hook = {});

}  // namespace osor::model::train
