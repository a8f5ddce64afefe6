#include "model/train/adamw.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "model/error.h"

namespace osor::model::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions opts)
    : options(opts), params_(std::move(params)), states_(params_.size()) {}

void AdamW::step() {
  c10::NoGradGuard no_grad;
  const auto& o = options;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    const at::Tensor g = p.grad();
    if (!g.defined()) continue;
    AdamWState& s = states_[i];
    if (!s.exp_avg.defined()) s.exp_avg = at::zeros_like(p);
    if (!s.exp_avg_sq.defined()) s.exp_avg_sq = at::zeros_like(p);
    p.mul_(1 - o.lr * o.weight_decay);
    s.exp_avg.mul_(o.beta1).add_(g, 1 - o.beta1);
    s.exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
    ++s.step;
    const double bias1 = 1 - std::pow(o.beta1, static_cast<double>(s.step));
    const double bias2_sqrt = std::sqrt(1 - std::pow(o.beta2, static_cast<double>(s.step)));
    const at::Tensor denom = (s.exp_avg_sq.sqrt() / bias2_sqrt).add_(o.eps);
    p.addcdiv_(s.exp_avg, denom, -o.lr / bias1);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();
}

AdamWState& AdamW::state(const std::string& name) {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].first == name) return states_[i];
  throw ModelError("AdamW: no parameter named " + name);
}

at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm());
  if (norms.empty()) return at::zeros({}, at::kFloat);
  const at::Tensor total = at::stack(norms).norm();
  const at::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().mul_(coef);
  return total;
}

}  // namespace osor::model::train
