// OSOR's occupancy-guided adversarial losses (osor-*/src/utils/losses.py MaskAwareGANLoss; spec §5.5). Per head k
// with logits L_k [B,h,w] and occupancy m_k = area-pooled mask on that grid (model/train/occupancy.h),
// BCE(x, t) = binary cross-entropy with logits:
//   D:  Σ_k [ mean BCE(L_real_k, 1) + mean BCE(L_fake_k, 1 − m_k) ]   (patches outside the hole count as real)
//   G:  Σ_k mean_b [ Σ_hw BCE(L_fake_k, 1)·m_k / max(Σ_hw m_k, 1e-4) ]   (pushed only where the mask occupies)
//   R1: mean_k mean( (∂ Σ head_k(f_k) / ∂ f_k)² ), f_k = real features detached, heads as the caller left them
//       (OSOR: train mode, so one more power iteration), create_graph so the D step can differentiate it.
// Unweighted: the trainer applies LossWeights::gan and ::gp.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "model/train/occupancy.h"

namespace osor::model::train {

class Discriminator;

// One occupancy grid per logit map (its h, w), mask [B,1,H,W].
std::vector<at::Tensor> occupancy_targets(const at::Tensor& mask, const std::vector<at::Tensor>& logits,
                                          const OccupancyOptions& options = {});

struct AdversarialTerms {
  at::Tensor total;                 // 0-d
  std::vector<at::Tensor> per_head;  // each 0-d: term k of the sum
};

AdversarialTerms discriminator_loss(const std::vector<at::Tensor>& real_logits,
                                    const std::vector<at::Tensor>& fake_logits, const at::Tensor& mask,
                                    const OccupancyOptions& options = {});
AdversarialTerms generator_loss(const std::vector<at::Tensor>& fake_logits, const at::Tensor& mask,
                                const OccupancyOptions& options = {});

struct R1Terms {
  at::Tensor total;                         // 0-d, mean over heads
  std::vector<at::Tensor> per_head;         // mean(g_k²)
  std::vector<at::Tensor> feature_grads;    // g_k (with graph)
};
R1Terms r1_penalty(Discriminator& d, const std::vector<at::Tensor>& real_features);

}  // namespace osor::model::train
