#include "model/train/autocast_scope.h"

#include <ATen/autocast_mode.h>

#include "model/error.h"

namespace osor::model::train {

AutocastScope::AutocastScope(c10::Device device, c10::ScalarType dtype) {
  if (dtype == c10::kFloat) return;
  if (dtype != c10::kBFloat16 && dtype != c10::kHalf)
    throw ModelError(std::string("mixed precision: dtype must be float32, bfloat16 or float16, got ") + c10::toString(dtype));
  if (device.type() != c10::kCUDA && device.type() != c10::kCPU)
    throw ModelError("mixed precision: autocast on " + device.str() + " is not supported (cpu or cuda)");
  previous_ = nn::AutocastState::current();
  nn::AutocastState next = previous_;
  next.of(device.type()) = {true, dtype};
  next.make_current();
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  previous_.make_current();
  at::autocast::clear_cache();
}

}  // namespace osor::model::train
