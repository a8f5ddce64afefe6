#include "model/cuda_graph.h"

#include <string>

#include "model/error.h"
#include "model/stage_timer.h"

#if OSOR_TORCH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace osor::model {

#if OSOR_TORCH_CUDA
bool cuda_graphs_available() { return true; }
#else
bool cuda_graphs_available() { return false; }
#endif

struct CapturedGraph::Impl {
#if OSOR_TORCH_CUDA
  at::cuda::CUDAGraph graph;
#endif
};

CapturedGraph::CapturedGraph(const c10::Device& device, const std::function<void()>& body, int warmup)
    : impl_(std::make_unique<Impl>()) {
#if OSOR_TORCH_CUDA
  if (!device.is_cuda()) throw ModelError("CUDA graphs need a CUDA device, not " + device.str());
  const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
  c10::cuda::CUDAGuard device_guard(index);
  // The inputs were written on the current stream; the side stream starts after them.
  synchronize_device(device);
  {
    // Capture needs a stream other than the legacy default one.
    c10::cuda::CUDAStreamGuard stream_guard(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index));
    for (int i = 0; i < warmup; ++i) body();
    c10::cuda::getCurrentCUDAStream(index).synchronize();
    impl_->graph.capture_begin();
    try {
      body();
    } catch (...) {
      try {
        impl_->graph.capture_end();  // leaves the stream out of capture mode; the half-recorded graph is dropped
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
    c10::cuda::getCurrentCUDAStream(index).synchronize();
  }
#else
  (void)body;
  (void)warmup;
  throw ModelError("CUDA graphs (on " + device.str() + "): this build's LibTorch has no CUDA support");
#endif
}

CapturedGraph::~CapturedGraph() = default;

void CapturedGraph::replay() {
#if OSOR_TORCH_CUDA
  impl_->graph.replay();
#endif
}

}  // namespace osor::model
