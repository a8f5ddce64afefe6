#include "model/train/spectral_norm.h"

#include <torch/torch.h>

#include "model/nn/layers.h"

namespace osor::model::train {
namespace {
at::Tensor normalized(const at::Tensor& z, double eps) { return z / z.norm().clamp_min(eps); }
}  // namespace

SpectralNormConv2d::SpectralNormConv2d(int64_t in, int64_t out, int64_t kernel, int64_t padding_)
    : padding(padding_) {
  const auto& o = model::nn::param_options();
  weight_orig = register_parameter("weight_orig", at::zeros({out, in, kernel, kernel}, o));
  bias = register_parameter("bias", at::zeros({out}, o));
  // PyTorch draws u, v from N(0,1) and normalises them; a checkpoint always overwrites them.
  weight_u = register_buffer("weight_u", normalized(at::randn({out}, o), eps));
  weight_v = register_buffer("weight_v", normalized(at::randn({in * kernel * kernel}, o), eps));
}

at::Tensor SpectralNormConv2d::forward(const at::Tensor& x) {
  const at::Tensor w = weight_orig.reshape({weight_orig.size(0), -1});
  at::Tensor u = weight_u, v = weight_v;
  if (is_training()) {
    {
      at::NoGradGuard no_grad;
      weight_v.copy_(normalized(at::mv(w.t(), weight_u), eps));
      weight_u.copy_(normalized(at::mv(w, weight_v), eps));
    }
    u = weight_u.clone();
    v = weight_v.clone();
  }
  const at::Tensor sigma = at::dot(u, at::mv(w, v));
  last_sigma = sigma.detach();
  return at::conv2d(x, weight_orig / sigma, bias, at::IntArrayRef{1, 1}, at::IntArrayRef{padding, padding});
}

}  // namespace osor::model::train
