// Mixed precision as OSOR trains (accelerate's mixed_precision "bf16" = torch.autocast): while an AutocastScope
// lives, this thread's eligible operations (matmuls, convolutions) on `device` run in `dtype` whatever their
// inputs' dtype, precision-sensitive ones (norms, softmax, losses) in float32. Trainable tensors stay float32.
// float32 (or a device without autocast support) makes the scope a no-op.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "model/nn/autocast_state.h"

namespace osor::model::train {

class AutocastScope {
 public:
  AutocastScope(c10::Device device, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;
  bool active() const { return active_; }

 private:
  bool active_ = false;
  nn::AutocastState previous_;
};

}  // namespace osor::model::train
