#include "model/train/reconstruction_loss.h"

#include <ATen/ATen.h>

#include "model/error.h"

namespace osor::model::train {

at::Tensor masked_l1_loss(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& mask) {
  if (pred.sizes() != target.sizes() || mask.dim() != 4 || mask.size(1) != 1 || mask.size(0) != pred.size(0) ||
      mask.size(2) != pred.size(2) || mask.size(3) != pred.size(3))
    throw ModelError("masked_l1_loss: pred " + c10::str(pred.sizes()) + ", target " + c10::str(target.sizes()) +
                     ", mask " + c10::str(mask.sizes()) + " (expected [B,C,H,W] twice and [B,1,H,W])");
  const at::Tensor numerator = (mask * (pred - target)).abs().sum({1, 2, 3});
  return (numerator / mask.sum({1, 2, 3}).clamp_min(1e-4)).mean();
}

at::Tensor latent_mask(const at::Tensor& mask) { return at::max_pool2d(mask, {8, 8}, {8, 8}); }

AlphaTerms alpha_loss(const at::Tensor& logits, const at::Tensor& target_latent, double bce_weight,
                      double dice_weight) {
  if (logits.sizes() != target_latent.sizes())
    throw ModelError("alpha_loss: logits " + c10::str(logits.sizes()) + " and target " +
                     c10::str(target_latent.sizes()) + " differ in shape");
  const at::Tensor bce = at::binary_cross_entropy_with_logits(logits, target_latent);
  const at::Tensor a = at::sigmoid(logits);
  const at::Tensor dice = 1 - (2 * (a * target_latent).sum() + 1) / (a.sum() + target_latent.sum() + 1);
  AlphaTerms t;
  t.bce_weighted = bce * bce_weight;
  t.dice_weighted = dice * dice_weight;
  t.total = t.bce_weighted + t.dice_weighted;
  return t;
}

}  // namespace osor::model::train
