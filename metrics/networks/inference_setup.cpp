#include "metrics/networks/inference_setup.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace osor::metrics {

void place_for_inference(torch::nn::Module& net, const c10::Device& device) {
  net.eval();
  net.to(device);
  if (device.is_cuda()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
}

at::Tensor rows_in_batches(const at::Tensor& images, int64_t batch_size, int64_t dim,
                           const std::function<at::Tensor(const at::Tensor&)>& rows_of) {
  if (batch_size <= 0) batch_size = 1;
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += batch_size)
    parts.push_back(rows_of(images.slice(0, i, std::min(images.size(0), i + batch_size))).to(at::kCPU));
  if (parts.empty()) return at::empty({0, dim}, at::kFloat);
  return at::cat(parts, 0);
}

}  // namespace osor::metrics
