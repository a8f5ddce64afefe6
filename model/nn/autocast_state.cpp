#include "model/nn/autocast_state.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "model/error.h"

namespace osor::model::nn {
namespace {

#if TORCH_VERSION_MAJOR >= 2
AutocastState::PerDevice read(c10::DeviceType t) {
  return {at::autocast::is_autocast_enabled(t), at::autocast::get_autocast_dtype(t)};
}
void write(c10::DeviceType t, const AutocastState::PerDevice& s) {
  at::autocast::set_autocast_enabled(t, s.enabled);
  at::autocast::set_autocast_dtype(t, s.dtype);
}
#else
AutocastState::PerDevice read(c10::DeviceType t) {
  if (t == c10::kCUDA) return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
  return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
}
void write(c10::DeviceType t, const AutocastState::PerDevice& s) {
  if (t == c10::kCUDA) {
    at::autocast::set_enabled(s.enabled);
    at::autocast::set_autocast_gpu_dtype(s.dtype);
  } else {
    at::autocast::set_cpu_enabled(s.enabled);
    at::autocast::set_autocast_cpu_dtype(s.dtype);
  }
}
#endif

}  // namespace

AutocastState AutocastState::current() {
  AutocastState s;
  s.cpu = read(c10::kCPU);
  s.cuda = read(c10::kCUDA);
  s.cache_enabled = at::autocast::is_autocast_cache_enabled();
  return s;
}

void AutocastState::make_current() const {
  write(c10::kCPU, cpu);
  write(c10::kCUDA, cuda);
  at::autocast::set_autocast_cache_enabled(cache_enabled);
}

AutocastState::PerDevice& AutocastState::of(c10::DeviceType type) {
  if (type == c10::kCPU) return cpu;
  if (type == c10::kCUDA) return cuda;
  throw ModelError(std::string("autocast: device type ") + c10::DeviceTypeName(type) +
                   " is not supported (cpu or cuda)");
}

}  // namespace osor::model::nn
