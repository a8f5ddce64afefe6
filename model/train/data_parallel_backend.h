// Internal to data_parallel.cpp and its c10d back ends (not a public header): the three collectives the group
// needs, on one flat buffer at a time, and the factories of the Gloo and NCCL implementations. No c10d types here,
// so the backends' heavy and build-dependent headers stay in their own translation units.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>

#include "model/train/data_parallel.h"

namespace osor::model::train {

class DataParallelGroup::Collectives {
 public:
  virtual ~Collectives() = default;
  virtual std::string name() const = 0;
  virtual void all_reduce_sum(at::Tensor& flat) = 0;
  virtual void broadcast(at::Tensor& flat, int root) = 0;
  virtual void barrier() = 0;
};

bool gloo_compiled_in();
bool nccl_compiled_in();
// Each throws ModelError when its back end was not compiled in, saying what the build lacked.
std::unique_ptr<DataParallelGroup::Collectives> make_gloo_collectives(const DistributedEnv& env,
                                                                      std::chrono::milliseconds timeout);
std::unique_ptr<DataParallelGroup::Collectives> make_nccl_collectives(const DistributedEnv& env, c10::Device device,
                                                                      std::chrono::milliseconds timeout);

}  // namespace osor::model::train
