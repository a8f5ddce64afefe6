// What a training step takes from its caller besides the networks: the LPIPS loss (the metrics library's, injected
// so model/ does not depend on metrics/) and a gradient hook (data-parallel averaging across processes).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace osor::model::train {

// LPIPS between two image batches in [−1, 1], the batch mean as a 0-d tensor, differentiable w.r.t. the first.
using LpipsLoss = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& y)>;

// Called after backward with the trainable tensors (their .grad() defined), before clipping and the optimizer step.
using GradientHook = std::function<void(const std::vector<at::Tensor>& params)>;

}  // namespace osor::model::train
