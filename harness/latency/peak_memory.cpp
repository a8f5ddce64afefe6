#include "harness/latency/peak_memory.h"

#include <fstream>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if OSOR_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace osor::harness {
namespace {

// A "Name:   1234 kB" line of /proc/self/status, in bytes; -1 when absent.
int64_t status_kib_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0) continue;
    try {
      return std::stoll(line.substr(name.size() + 1)) * 1024;
    } catch (const std::exception&) {
      return -1;
    }
  }
  return -1;
}

}  // namespace

int64_t host_rss_bytes() { return status_kib_field("VmRSS"); }

bool reset_host_peak() {
#if defined(__GLIBC__)
  // Free heap memory stays mapped under OSOR's allocator policy (model/host_allocator.h); hand it back first, so
  // that the next configuration's peak starts from what is really in use.
  malloc_trim(0);
#endif
  {
    std::ofstream out("/proc/self/clear_refs");
    if (!out) return false;
    out << "5";
    out.flush();
    if (!out) return false;
  }
  // Accepted writes that do not reset (kernels before 4.0) leave VmHWM above the current RSS.
  const int64_t hwm = status_kib_field("VmHWM"), rss = status_kib_field("VmRSS");
  return hwm >= 0 && rss >= 0 && hwm <= rss + (int64_t{1} << 20);
}

HostPeak read_host_peak(bool reset_succeeded) { return {status_kib_field("VmHWM"), reset_succeeded}; }

void reset_device_peak(const c10::Device& device) {
#if OSOR_TORCH_CUDA
  // Before the first CUDA allocation the allocator is not initialised and its statistics calls throw.
  if (device.is_cuda() && c10::cuda::CUDACachingAllocator::get()->initialized()) {
    const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
    c10::cuda::CUDACachingAllocator::resetPeakStats(index);
  }
#endif
}

DevicePeak read_device_peak(const c10::Device& device) {
  DevicePeak peak;
#if OSOR_TORCH_CUDA
  if (device.is_cuda() && c10::cuda::CUDACachingAllocator::get()->initialized()) {
    const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    // Index 0 of each StatArray is the aggregate over the small and large pools (StatType::AGGREGATE).
    peak.allocated_bytes = static_cast<int64_t>(stats.allocated_bytes[0].peak);
    peak.reserved_bytes = static_cast<int64_t>(stats.reserved_bytes[0].peak);
  }
#endif
  return peak;
}

}  // namespace osor::harness
