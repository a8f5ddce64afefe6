#include "model/train/adversarial_loss.h"

#include <torch/torch.h>

#include "model/error.h"
#include "model/train/discriminator.h"

namespace osor::model::train {
namespace {

at::Tensor bce_with_logits(const at::Tensor& x, const at::Tensor& target) {
  return at::binary_cross_entropy_with_logits(x, target, {}, {}, at::Reduction::None);
}

void check_lists(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, const char* what) {
  if (a.size() != b.size() || a.empty())
    throw ModelError(std::string(what) + ": " + std::to_string(a.size()) + " real and " + std::to_string(b.size()) +
                     " fake logit maps (one per head expected, same count)");
}

}  // namespace

std::vector<at::Tensor> occupancy_targets(const at::Tensor& mask, const std::vector<at::Tensor>& logits,
                                          const OccupancyOptions& options) {
  std::vector<at::Tensor> out;
  for (const auto& l : logits) {
    if (l.dim() != 3) throw ModelError("occupancy_targets: logits must be [B,h,w], got " + c10::str(l.sizes()));
    out.push_back(occupancy_target(mask.to(l.scalar_type()), l.size(1), l.size(2), options));
  }
  return out;
}

AdversarialTerms discriminator_loss(const std::vector<at::Tensor>& real_logits,
                                    const std::vector<at::Tensor>& fake_logits, const at::Tensor& mask,
                                    const OccupancyOptions& options) {
  check_lists(real_logits, fake_logits, "discriminator_loss");
  const auto occupancy = occupancy_targets(mask, fake_logits, options);
  AdversarialTerms t;
  for (size_t k = 0; k < real_logits.size(); ++k) {
    const at::Tensor real = bce_with_logits(real_logits[k], at::ones_like(real_logits[k])).mean();
    const at::Tensor fake = bce_with_logits(fake_logits[k], 1 - occupancy[k]).mean();
    t.per_head.push_back(real + fake);
    t.total = k ? t.total + t.per_head.back() : t.per_head.back();
  }
  return t;
}

AdversarialTerms generator_loss(const std::vector<at::Tensor>& fake_logits, const at::Tensor& mask,
                                const OccupancyOptions& options) {
  check_lists(fake_logits, fake_logits, "generator_loss");
  const auto occupancy = occupancy_targets(mask, fake_logits, options);
  AdversarialTerms t;
  for (size_t k = 0; k < fake_logits.size(); ++k) {
    const at::Tensor loss = bce_with_logits(fake_logits[k], at::ones_like(fake_logits[k]));
    const at::Tensor area = occupancy[k].sum({1, 2}).clamp_min(1e-4);
    t.per_head.push_back(((loss * occupancy[k]).sum({1, 2}) / area).mean());
    t.total = k ? t.total + t.per_head.back() : t.per_head.back();
  }
  return t;
}

R1Terms r1_penalty(Discriminator& d, const std::vector<at::Tensor>& real_features) {
  if (real_features.empty()) throw ModelError("r1_penalty: no feature maps");
  R1Terms t;
  for (size_t k = 0; k < real_features.size(); ++k) {
    // One head at a time, as OSOR's loop over D.heads (each call is one power iteration in train mode).
    const at::Tensor f = real_features[k].detach().requires_grad_(true);
    const at::Tensor out = d.head(k, f);
    const at::Tensor g = torch::autograd::grad({out.sum()}, {f}, {}, /*retain_graph=*/true,
                                               /*create_graph=*/true)[0];
    t.feature_grads.push_back(g);
    t.per_head.push_back(g.pow(2).mean());
    t.total = k ? t.total + t.per_head.back() : t.per_head.back();
  }
  t.total = t.total / static_cast<double>(real_features.size());
  return t;
}

}  // namespace osor::model::train
