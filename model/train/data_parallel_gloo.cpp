// The CPU back end: c10d's ProcessGroupGloo. Its header includes Gloo's own (Debian: libgloo-dev); OSOR_WITH_GLOO
// says CMake found them. Only ProcessGroupGloo's out-of-line API is used (device factories, Options, constructor,
// virtual collectives), never a Gloo type beyond a shared_ptr to it, so Debian's Gloo headers serve LibTorch 2.x
// too, whose Gloo is a newer commit compiled into libtorch_cpu.
#include "model/train/data_parallel_backend.h"

#include "model/error.h"

#ifndef OSOR_WITH_GLOO
#define OSOR_WITH_GLOO 0  // set to 1 by model/CMakeLists.txt when the headers were found
#endif

#if OSOR_WITH_GLOO
#ifndef USE_C10D_GLOO  // LibTorch 2.x's CMake config defines it, 1.13's does not; the header is empty without it
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdlib>
#include <sstream>

#include "model/train/data_parallel_c10d.h"
#endif

namespace osor::model::train {

bool gloo_compiled_in() { return OSOR_WITH_GLOO; }

#if OSOR_WITH_GLOO
namespace {

// The network interfaces Gloo binds, as torch.distributed chooses them: GLOO_SOCKET_IFNAME (comma-separated) when
// set; the loopback address when the whole job is on this machine (MASTER_ADDR is loopback: no dependence on the
// hostname resolving); else the address the hostname resolves to.
std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const DistributedEnv& env) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
  if (const char* names = std::getenv("GLOO_SOCKET_IFNAME"); names != nullptr && *names != '\0') {
    std::stringstream list(names);
    for (std::string name; std::getline(list, name, ',');) {
      if (!name.empty()) devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    }
    return devices;
  }
  const bool loopback = env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0;
  devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                             : c10d::ProcessGroupGloo::createDefaultDevice());
  return devices;
}

}  // namespace

std::unique_ptr<DataParallelGroup::Collectives> make_gloo_collectives(const DistributedEnv& env,
                                                                      std::chrono::milliseconds timeout) {
  auto store = connect_rendezvous_store(env, timeout);
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  try {
    options->devices = gloo_devices(env);
  } catch (const std::exception& e) {
    rethrow_collective_error("Gloo device creation (GLOO_SOCKET_IFNAME?)", e, "gloo", env.rank, env.world_size);
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    rethrow_collective_error("Gloo connection", e, "gloo", env.rank, env.world_size);
  }
  return std::make_unique<C10dCollectives<c10d::ProcessGroupGloo>>(std::move(group), "gloo", env.rank,
                                                                   env.world_size, timeout);
}

#else

std::unique_ptr<DataParallelGroup::Collectives> make_gloo_collectives(const DistributedEnv&,
                                                                      std::chrono::milliseconds) {
  throw ModelError(
      "data parallelism on the CPU needs c10d's Gloo back end, and this osor was built without Gloo's headers "
      "(Debian: apt-get install libgloo-dev, then reconfigure; see docs/training.md)");
}

#endif

}  // namespace osor::model::train
