// CUDA graphs for fixed-shape network calls: one CPU launch replays every kernel a call recorded, so a network
// of thousands of small kernels (the SDXL UNet: ~2,500 per call) stops paying the launch latency of each one.
// Compiled to a working capture only against a LibTorch built with CUDA (OSOR_TORCH_CUDA); elsewhere
// cuda_graphs_available() is false and capturing throws ModelError.
//
// Contract of `body` (as torch.cuda.graph's): it reads its inputs from tensors that outlive the graph and keeps its
// outputs in such tensors (assigning them, e.g. `out = net.forward(in)`, is enough: the tensors made during the
// capture stay allocated in the graph's private memory pool, and every replay rewrites them in place). It must
// not synchronise with the host (.item(), .cpu(), pageable copies) nor draw random numbers; new inputs are copied
// into the input tensors (copy_) before replay().
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace osor::model {

bool cuda_graphs_available();

class CapturedGraph {
 public:
  // Runs `body` `warmup` times on a side stream of `device` (lazy initialisation, cuDNN/cuBLAS algorithm search and
  // allocator growth happen there, outside the recording), then records one more call. The device is synchronised
  // before and after. ModelError: no CUDA graphs in this build, or `device` is not a CUDA device.
  CapturedGraph(const c10::Device& device, const std::function<void()>& body, int warmup = 2);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Launches the recorded kernels on the device's current stream (asynchronously, like the eager call).
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
