#include "harness/latency/system_info.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "model/host_allocator.h"

#if OSOR_TORCH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

#ifndef OSOR_GIT_REVISION
#define OSOR_GIT_REVISION "unknown"
#endif

using nlohmann::json;

namespace osor::harness {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// nvidia-smi's answer for one GPU as CSV fields, or empty when it is absent or fails.
std::vector<std::string> nvidia_smi_fields(int index, const std::string& query) {
  const std::string cmd = "nvidia-smi --query-gpu=" + query + " --format=csv,noheader,nounits -i " +
                          std::to_string(index) + " 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {};
  std::string out;
  std::array<char, 512> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  if (pclose(pipe) != 0) return {};
  std::vector<std::string> fields;
  std::stringstream ss(out.substr(0, out.find('\n')));
  std::string field;
  while (std::getline(ss, field, ',')) fields.push_back(trim(field));
  return fields;
}

json number_or_null(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    return used == text.size() ? json(v) : json(nullptr);
  } catch (const std::exception&) {
    return nullptr;
  }
}

int device_index(const c10::Device& device) {
#if OSOR_TORCH_CUDA
  if (device.is_cuda() && !device.has_index()) return c10::cuda::current_device();
#endif
  return device.has_index() ? device.index() : 0;
}

}  // namespace

json describe_system(const c10::Device& device) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  json j = {{"kind", c10::DeviceTypeName(device.type(), /*lower_case=*/true)},
            {"index", device.is_cpu() ? json(nullptr) : json(device_index(device))},
            {"name", nullptr},
            {"driver", nullptr},
            {"libtorch", TORCH_VERSION},
            {"cuda", nullptr},
            {"cudnn", nullptr},
            {"clocks_mhz", nullptr},
            {"cpu", cpu_model()},
            {"cpu_threads", at::get_num_threads()},
            {"host_allocator", model::host_allocator_policy()},
            {"host", host},
            {"osor_revision", OSOR_GIT_REVISION}};
  if (device.is_cpu()) {
    j["name"] = j["cpu"];
    return j;
  }
  const int index = device_index(device);
#if OSOR_TORCH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, index) == cudaSuccess) {
      j["name"] = props.name;
      j["compute_capability"] = std::to_string(props.major) + "." + std::to_string(props.minor);
      j["multiprocessors"] = props.multiProcessorCount;
      j["memory_bytes"] = static_cast<int64_t>(props.totalGlobalMem);
    }
    int driver = 0;
    if (cudaDriverGetVersion(&driver) == cudaSuccess)
      j["cuda_driver_api"] = std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10);
  }
#endif
  if (device.is_cuda() && at::hasCUDA()) {
    // The CUDA runtime LibTorch itself was built with and uses (not a toolkit's cudart found at build time).
    const long runtime = at::detail::getCUDAHooks().versionCUDART();
    if (runtime > 0) j["cuda"] = std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
    const long cudnn = at::detail::getCUDAHooks().versionCuDNN();
    if (cudnn > 0) j["cudnn"] = cudnn;
  }
  const auto smi = nvidia_smi_fields(index, "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem");
  if (smi.size() == 6) {
    if (j["name"].is_null()) j["name"] = smi[0];
    j["driver"] = smi[1];
    j["clocks_mhz"] = {{"sm", number_or_null(smi[2])},
                       {"sm_max", number_or_null(smi[3])},
                       {"memory", number_or_null(smi[4])},
                       {"memory_max", number_or_null(smi[5])}};
  }
  return j;
}

std::string device_label(const c10::Device& device) {
  const json j = describe_system(device);
  const std::string name = j["name"].is_string() ? j["name"].get<std::string>() : std::string();
  if (device.is_cpu())
    return (name.empty() ? std::string("CPU") : name) + " (cpu, " + std::to_string(at::get_num_threads()) +
           (at::get_num_threads() == 1 ? " thread)" : " threads)");
  return (name.empty() ? std::string("unnamed device") : name) + " (" + device.str() + ")";
}

}  // namespace osor::harness
