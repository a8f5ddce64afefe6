#include "model/train/autocast_scope.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "model/error.h"

namespace osor::model::train {
namespace {

// LibTorch 2.x takes the device type; 1.13 has one switch and dtype per device family.
#if TORCH_VERSION_MAJOR >= 2
bool enabled(c10::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_enabled(c10::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
c10::ScalarType get_dtype(c10::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_dtype(c10::DeviceType t, c10::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else
bool enabled(c10::DeviceType t) { return t == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_enabled(c10::DeviceType t, bool on) {
  if (t == c10::kCUDA) at::autocast::set_enabled(on);
  else at::autocast::set_cpu_enabled(on);
}
c10::ScalarType get_dtype(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(c10::DeviceType t, c10::ScalarType d) {
  if (t == c10::kCUDA) at::autocast::set_autocast_gpu_dtype(d);
  else at::autocast::set_autocast_cpu_dtype(d);
}
#endif

}  // namespace

AutocastScope::AutocastScope(c10::Device device, c10::ScalarType dtype) : device_type_(device.type()) {
  if (dtype == c10::kFloat) return;
  if (dtype != c10::kBFloat16 && dtype != c10::kHalf)
    throw ModelError(std::string("mixed precision: dtype must be float32, bfloat16 or float16, got ") + c10::toString(dtype));
  if (device_type_ != c10::kCUDA && device_type_ != c10::kCPU)
    throw ModelError("mixed precision: autocast on " + device.str() + " is not supported (cpu or cuda)");
  was_enabled_ = enabled(device_type_);
  previous_dtype_ = get_dtype(device_type_);
  set_enabled(device_type_, true);
  set_dtype(device_type_, dtype);
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  set_enabled(device_type_, was_enabled_);
  set_dtype(device_type_, previous_dtype_);
  at::autocast::clear_cache();
}

}  // namespace osor::model::train
