// torch.optim.AdamW as OSOR builds it (lr 1e-5, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01 — PyTorch's
// default, since OSOR's "adam" maps to AdamW without setting it), single-tensor path, per parameter with a gradient:
//   p ← p·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  t ← t + 1
//   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
// and torch.nn.utils.clip_grad_norm_: n = sqrt(Σ‖g‖²) (returned); g ← g · min(1, max_norm / (n + 1e-6)).
// Written out (not torch::optim) so the state is plain named tensors: checkpoints and the fixtures' resumed state.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace osor::model::train {

struct AdamWOptions {
  double lr = 1e-5, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

struct AdamWState {
  int64_t step = 0;
  at::Tensor exp_avg, exp_avg_sq;  // undefined until the first step (then zeros, as PyTorch)
};

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions options = {});
  // One update of every parameter whose .grad() is defined (under no-grad; parameters are updated in place).
  void step();
  void zero_grad();  // sets every gradient to undefined (set_to_none, PyTorch 2's default)
  AdamWState& state(const std::string& name);
  const std::vector<std::pair<std::string, at::Tensor>>& params() const { return params_; }
  AdamWOptions options;

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<AdamWState> states_;
};

// Scales every defined gradient in place; returns the pre-clip total norm (0-d: the norm of the per-tensor norms,
// as PyTorch computes it).
at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace osor::model::train
