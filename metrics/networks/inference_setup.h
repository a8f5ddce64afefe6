// What the metric networks (Inception, CLIP, LPIPS) share around their forward passes: how a network is placed for
// inference, and how a large set of images is fed to it in batches. Private to metrics/networks/.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>

namespace torch::nn {
class Module;
}

namespace osor::metrics {

// net.eval(), moved to `device`; on CUDA, cuDNN and cuBLAS TF32 are switched off: TF32 moves features at the 1e-3
// level, and parity with the float32 references needs it off.
void place_for_inference(torch::nn::Module& net, const c10::Device& device);

// `images` [N,…] cut into batches of batch_size (≤ 0: 1), each run through `rows_of`, the rows concatenated on the
// CPU; [0, dim] float32 when N = 0.
at::Tensor rows_in_batches(const at::Tensor& images, int64_t batch_size, int64_t dim,
                           const std::function<at::Tensor(const at::Tensor&)>& rows_of);

}  // namespace osor::metrics
