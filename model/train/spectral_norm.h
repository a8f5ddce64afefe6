// A convolution under torch.nn.utils.spectral_norm, with its state-dict names: parameters `weight_orig`, `bias`,
// buffers `weight_u` [out], `weight_v` [in·kh·kw]. Semantics of PyTorch's hook (same code in torch 1.13 and 2.x):
//   W = weight_orig.reshape(out, −1)
//   training mode, before every forward (no grad): v = normalize(Wᵀu); u = normalize(W v)   (one power iteration,
//       written into the buffers; the values used below are copies), normalize(z) = z / max(‖z‖, eps = 1e-12)
//   eval mode: the stored u, v as they are
//   σ = u · (W v);  weight = weight_orig / σ   (gradients flow through σ; u and v are constants)
// Internal to model/train (the discriminator's heads).
#pragma once

#include <torch/nn/module.h>

#include <cstdint>

namespace osor::model::train {

class SpectralNormConv2d : public torch::nn::Module {
 public:
  SpectralNormConv2d(int64_t in, int64_t out, int64_t kernel, int64_t padding);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight_orig, bias, weight_u, weight_v;
  at::Tensor last_sigma;  // σ of the last forward (detached), for traces
  int64_t padding;
  double eps = 1e-12;
};

}  // namespace osor::model::train
