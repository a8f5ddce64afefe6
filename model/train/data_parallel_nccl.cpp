// The CUDA back end: c10d's ProcessGroupNCCL. Compiled in (OSOR_WITH_NCCL) only against a LibTorch built with CUDA
// and with the nccl.h it was built with (the pip wheel's nvidia-nccl package), since ProcessGroupNCCL's layout
// depends on NCCL's version macros. Debian's LibTorch 1.13 is CPU-only: there a CUDA device is refused.
#include "model/train/data_parallel_backend.h"

#include "model/error.h"

#ifndef OSOR_WITH_NCCL
#define OSOR_WITH_NCCL 0  // set to 1 by model/CMakeLists.txt when the headers were found
#endif

#if OSOR_WITH_NCCL
#ifndef USE_C10D_NCCL  // LibTorch 2.x's CMake config defines it; the header is empty without it
#define USE_C10D_NCCL 1
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "model/train/data_parallel_c10d.h"
#endif

namespace osor::model::train {

bool nccl_compiled_in() { return OSOR_WITH_NCCL; }

#if OSOR_WITH_NCCL

std::unique_ptr<DataParallelGroup::Collectives> make_nccl_collectives(const DistributedEnv& env, c10::Device device,
                                                                      std::chrono::milliseconds timeout) {
  // NCCL binds a communicator to the current device: this process's GPU, before anything is created.
  try {
    c10::cuda::set_device(device.index());
  } catch (const std::exception& e) {
    rethrow_collective_error(("selecting " + device.str()).c_str(), e, "nccl", env.rank, env.world_size);
  }
  auto store = connect_rendezvous_store(env, timeout);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group;
  try {
    group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    rethrow_collective_error("NCCL initialisation", e, "nccl", env.rank, env.world_size);
  }
  return std::make_unique<C10dCollectives<c10d::ProcessGroupNCCL>>(std::move(group), "nccl", env.rank,
                                                                   env.world_size, timeout);
}

#else

std::unique_ptr<DataParallelGroup::Collectives> make_nccl_collectives(const DistributedEnv&, c10::Device device,
                                                                      std::chrono::milliseconds) {
  throw ModelError("data parallelism on " + device.str() +
                   " needs c10d's NCCL back end, which this osor was not built with (it needs a LibTorch built with "
                   "CUDA and its nccl.h; Debian's LibTorch 1.13 is CPU-only: use --device cpu for Gloo)");
}

#endif

}  // namespace osor::model::train
