#include "model/stage_timer.h"

#include <c10/core/Event.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/api/include/torch/version.h>

#include <chrono>
#include <optional>
#include <vector>

#include "model/error.h"

// c10::Event::elapsedTime (device-generic event timing) exists from LibTorch 2.5 on; older versions time CUDA
// stages with a device synchronisation around a steady clock instead.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define OSOR_DEVICE_EVENT_TIMING 1
#else
#define OSOR_DEVICE_EVENT_TIMING 0
#endif

namespace osor::model {
namespace {

using Clock = std::chrono::steady_clock;

#if OSOR_DEVICE_EVENT_TIMING
c10::Stream current_stream(c10::Device device) {
  return c10::impl::getDeviceGuardImpl(device.type())->getStream(device);
}
#endif

}  // namespace

const char* stage_clock_name(c10::Device device) {
  return OSOR_DEVICE_EVENT_TIMING && !device.is_cpu() ? "device-events" : "steady-clock";
}

void synchronize_device(c10::Device device) {
  if (device.is_cpu()) return;
  const auto* guard = c10::impl::getDeviceGuardImpl(device.type());
  guard->synchronizeStream(guard->getStream(device));
}

struct StageTimer::Impl {
  struct Interval {
    std::string stage;
    Clock::time_point start, stop;
#if OSOR_DEVICE_EVENT_TIMING
    std::optional<c10::Event> start_event, stop_event;
#endif
  };
  explicit Impl(c10::Device d) : device(d) {}
  c10::Device device;
  bool use_events = false;
  std::vector<Interval> intervals;
  bool open = false;
};

StageTimer::StageTimer(c10::Device device) : impl_(std::make_unique<Impl>(device)) {
#if OSOR_DEVICE_EVENT_TIMING
  impl_->use_events = !device.is_cpu();
#endif
}

StageTimer::~StageTimer() = default;

const char* StageTimer::clock_name() const { return impl_->use_events ? "device-events" : "steady-clock"; }

void StageTimer::begin(const std::string& stage) {
  if (impl_->open) throw ModelError("StageTimer: stage '" + stage + "' begun inside '" + impl_->intervals.back().stage + "'");
  impl_->open = true;
  Impl::Interval interval;
  interval.stage = stage;
#if OSOR_DEVICE_EVENT_TIMING
  if (impl_->use_events) {
    interval.start_event.emplace(impl_->device.type(), c10::EventFlag::BACKEND_DEFAULT);
    interval.stop_event.emplace(impl_->device.type(), c10::EventFlag::BACKEND_DEFAULT);
    interval.start_event->record(current_stream(impl_->device));
  }
#endif
  if (!impl_->use_events) {
    synchronize_device(impl_->device);
    interval.start = Clock::now();
  }
  impl_->intervals.push_back(std::move(interval));
}

void StageTimer::end() {
  if (!impl_->open) throw ModelError("StageTimer: end() without begin()");
  impl_->open = false;
  auto& interval = impl_->intervals.back();
#if OSOR_DEVICE_EVENT_TIMING
  if (impl_->use_events) interval.stop_event->record(current_stream(impl_->device));
#endif
  if (!impl_->use_events) {
    synchronize_device(impl_->device);
    interval.stop = Clock::now();
  }
}

StageTimes StageTimer::finish() {
  if (impl_->open) throw ModelError("StageTimer: finish() inside stage '" + impl_->intervals.back().stage + "'");
  synchronize_device(impl_->device);
  StageTimes times;
  for (auto& interval : impl_->intervals) {
    double ms = 0;
#if OSOR_DEVICE_EVENT_TIMING
    if (impl_->use_events) ms = interval.start_event->elapsedTime(*interval.stop_event);
#endif
    if (!impl_->use_events) ms = std::chrono::duration<double, std::milli>(interval.stop - interval.start).count();
    times.ms[interval.stage] += ms;
    times.calls[interval.stage] += 1;
  }
  impl_->intervals.clear();
  return times;
}

}  // namespace osor::model
