// What a measurement ran on, for `osor latency` (its "device" object) and the provenance of `osor eval` runs:
// the device's kind, index and name, the GPU driver and clocks (from nvidia-smi, where it answers: current SM and
// memory clocks at the time of the call and their maxima, so callers read it right after the timed iterations),
// LibTorch, the CUDA runtime and cuDNN versions (CUDA builds), the CPU model and LibTorch's intra-op thread count,
// the host allocator policy (model/host_allocator.h), the host name and OSOR's revision. Fields that cannot be read are null, never guessed.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <string>

namespace osor::harness {

nlohmann::json describe_system(const c10::Device& device);

// One line for table notes: "NVIDIA H200 (cuda:0)", "Intel(R) Xeon(R) ... (cpu, 2 threads)".
std::string device_label(const c10::Device& device);

}  // namespace osor::harness
