// Peak memory of one measured configuration of `osor latency`.
// Host: the process's peak resident set size, VmHWM in /proc/self/status. reset_host_peak() writes "5" to
// /proc/self/clear_refs, which sets VmHWM back to the current RSS (Linux ≥ 4.0); where that is refused (older
// kernels, some sandboxes) the value stays the peak since the process started, and HostPeak says so.
// Device: the CUDA caching allocator's statistics (peak bytes allocated to tensors, and peak bytes the allocator
// reserved from the driver), reset per configuration. Only builds against a CUDA LibTorch read them
// (OSOR_TORCH_CUDA); elsewhere, and on the CPU, they are not measured (-1).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace osor::harness {

struct HostPeak {
  int64_t bytes = -1;        // -1: /proc/self/status unreadable
  bool since_reset = false;  // true: the peak of this configuration; false: of the whole process so far
};

struct DevicePeak {
  int64_t allocated_bytes = -1;  // -1: not measured (CPU device, or a build without CUDA)
  int64_t reserved_bytes = -1;
};

// Returns freed heap memory to the kernel (malloc_trim: OSOR's allocator policy keeps it mapped otherwise), then
// resets the host peak to the current RSS; returns whether the kernel did.
bool reset_host_peak();
HostPeak read_host_peak(bool reset_succeeded);
int64_t host_rss_bytes();  // current VmRSS, -1 when unreadable

void reset_device_peak(const c10::Device& device);
DevicePeak read_device_peak(const c10::Device& device);

}  // namespace osor::harness
