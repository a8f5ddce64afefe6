// OSOR's reconstruction and alpha losses (osor-*/src/utils/losses.py; spec §5.5), unweighted:
//   masked L1:  mean_b [ Σ_{c,h,w} |m·(x − y)| / max(Σ_{h,w} m, 1e-4) ]   m [B,1,H,W] broadcast over the channels in
//               the numerator only (the denominator counts mask pixels once); an empty mask gives 0 for its sample
//   alpha (Phase II):  bce = mean BCE-with-logits(logits, g);  dice = 1 − (2 Σ a·g + 1) / (Σ a + Σ g + 1), a =
//               sigmoid(logits), sums over the whole batch (smooth 1); g = max_pool2d(gt_mask, 8, 8) (latent grid)
#pragma once

#include <ATen/core/Tensor.h>

namespace osor::model::train {

at::Tensor masked_l1_loss(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& mask);

// The latent-grid alpha target: max_pool2d(gt_mask, 8, 8), [B,1,H/8,W/8].
at::Tensor latent_mask(const at::Tensor& mask);

struct AlphaTerms {
  at::Tensor total, bce_weighted, dice_weighted;  // total = bce_weight·bce + dice_weight·dice, 0-d each
};
AlphaTerms alpha_loss(const at::Tensor& logits, const at::Tensor& target_latent, double bce_weight,
                      double dice_weight);

}  // namespace osor::model::train
