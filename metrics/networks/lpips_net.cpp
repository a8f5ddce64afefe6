#include "metrics/networks/lpips_net.h"

#include <torch/torch.h>

#include "metrics/error.h"
#include "metrics/networks/inference_setup.h"
#include "model/io/module_weights.h"

namespace osor::metrics {

namespace nn = torch::nn;

namespace {

// One stage of a torchvision trunk, in `features` order: a conv at index `index` followed by its ReLU, with a
// 3×3/2 max pool before it when `pool_before`; `tap` marks the ReLU outputs LPIPS compares.
struct TrunkLayer {
  int index;
  int64_t in, out, kernel, stride, padding;
  bool pool_before;
  bool tap;
};

const std::vector<TrunkLayer>& trunk_layers(LpipsTrunk trunk) {
  // torchvision alexnet().features: taps relu1..relu5 = indices 1, 4, 7, 9, 11 (lpips slices 1-5).
  static const std::vector<TrunkLayer> alex = {
      {0, 3, 64, 11, 4, 2, false, true},    {3, 64, 192, 5, 1, 2, true, true},
      {6, 192, 384, 3, 1, 1, true, true},   {8, 384, 256, 3, 1, 1, false, true},
      {10, 256, 256, 3, 1, 1, false, true},
  };
  // torchvision vgg16().features: taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 = indices 3, 8, 15, 22, 29.
  static const std::vector<TrunkLayer> vgg = {
      {0, 3, 64, 3, 1, 1, false, false},     {2, 64, 64, 3, 1, 1, false, true},
      {5, 64, 128, 3, 1, 1, true, false},    {7, 128, 128, 3, 1, 1, false, true},
      {10, 128, 256, 3, 1, 1, true, false},  {12, 256, 256, 3, 1, 1, false, false},
      {14, 256, 256, 3, 1, 1, false, true},  {17, 256, 512, 3, 1, 1, true, false},
      {19, 512, 512, 3, 1, 1, false, false}, {21, 512, 512, 3, 1, 1, false, true},
      {24, 512, 512, 3, 1, 1, true, false},  {26, 512, 512, 3, 1, 1, false, false},
      {28, 512, 512, 3, 1, 1, false, true},
  };
  return trunk == LpipsTrunk::Alex ? alex : vgg;
}

// Set while flops_per_pair() traces one forward.
thread_local double* g_flop_counter = nullptr;

void count_conv(const nn::Conv2d& conv, const torch::Tensor& y) {
  if (g_flop_counter) *g_flop_counter += 2.0 * static_cast<double>(y.numel()) * static_cast<double>(conv->weight[0].numel());
}

// lpips.LPIPS with the trunk under torchvision's `features.N` names and the heads under `lin{k}.model.1`
// (index 1 because index 0 of the reference Sequential is a Dropout, a no-op in eval mode).
struct LpipsModuleImpl : nn::Module {
  // torchvision: AlexNet pools 3×3 stride 2, VGG16 2×2 stride 2.
  explicit LpipsModuleImpl(LpipsTrunk trunk)
      : layers(trunk_layers(trunk)), pool_kernel(trunk == LpipsTrunk::Alex ? 3 : 2) {
    auto features = register_module("features", std::make_shared<nn::Module>());
    std::vector<int64_t> tap_channels;
    for (const auto& l : layers) {
      convs.push_back(features->register_module(
          std::to_string(l.index),
          nn::Conv2d(nn::Conv2dOptions(l.in, l.out, l.kernel).stride(l.stride).padding(l.padding))));
      if (l.tap) tap_channels.push_back(l.out);
    }
    for (size_t k = 0; k < tap_channels.size(); ++k) {
      auto lin = register_module("lin" + std::to_string(k), std::make_shared<nn::Module>());
      auto model = lin->register_module("model", std::make_shared<nn::Module>());
      lins.push_back(model->register_module("1", nn::Conv2d(nn::Conv2dOptions(tap_channels[k], 1, 1).bias(false))));
    }
  }

  // x in [-1,1] → the five tap activations of the scaled input.
  std::vector<torch::Tensor> taps(torch::Tensor x) {
    // ScalingLayer: float32 constants, as the reference's torch.Tensor buffers.
    const auto opts = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
    const torch::Tensor shift = torch::tensor({-0.030f, -0.088f, -0.188f}).to(opts).view({1, 3, 1, 1});
    const torch::Tensor scale = torch::tensor({0.458f, 0.448f, 0.450f}).to(opts).view({1, 3, 1, 1});
    x = (x - shift) / scale;
    std::vector<torch::Tensor> out;
    for (size_t i = 0; i < layers.size(); ++i) {
      if (layers[i].pool_before) x = torch::max_pool2d(x, pool_kernel, 2);
      x = convs[i]->forward(x);
      count_conv(convs[i], x);
      x = torch::relu(x);
      if (layers[i].tap) out.push_back(x);
    }
    return out;
  }

  // a, b in [-1,1] → [N, 5] per-layer distances.
  torch::Tensor per_layer(const torch::Tensor& a, const torch::Tensor& b) {
    const int64_t n = a.size(0);
    const std::vector<torch::Tensor> f = taps(torch::cat({a, b}, 0));
    std::vector<torch::Tensor> d;
    for (size_t k = 0; k < f.size(); ++k) {
      // lpips.normalize_tensor: eps 1e-10 added outside the sqrt.
      const torch::Tensor norm = f[k].pow(2).sum(1, true).sqrt().add(1e-10);
      const torch::Tensor g = f[k] / norm;
      const torch::Tensor diff = (g.slice(0, 0, n) - g.slice(0, n, 2 * n)).pow(2);
      const torch::Tensor y = lins[k]->forward(diff);
      count_conv(lins[k], y);
      d.push_back(y.mean({2, 3}).view({n}));
    }
    return torch::stack(d, 1);
  }

  std::vector<TrunkLayer> layers;
  int64_t pool_kernel;
  std::vector<nn::Conv2d> convs, lins;
};
TORCH_MODULE(LpipsModule);

at::Tensor to_signed(const at::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != 3)
    throw MetricError("LPIPS: expected images [N,3,H,W], got " + std::to_string(images.dim()) + " dimensions");
  // lpips.im2tensor computes u8/127.5 - 1 in float64 and rounds to float32; [0,1] floats take the same route.
  if (images.scalar_type() == at::kByte) return images.to(at::kDouble).div(127.5).sub(1).to(at::kFloat);
  return images.to(at::kDouble).mul(2).sub(1).to(at::kFloat);
}

}  // namespace

const char* to_string(LpipsTrunk trunk) { return trunk == LpipsTrunk::Alex ? "alex" : "vgg"; }

struct LpipsNet::Impl {
  LpipsTrunk trunk = LpipsTrunk::Alex;
  LpipsModule net{nullptr};
  c10::Device device{c10::kCPU};
};

LpipsNet LpipsNet::random(LpipsTrunk trunk, const c10::Device& device, uint64_t seed) {
  torch::manual_seed(seed);
  LpipsNet l;
  l.impl_ = std::make_shared<Impl>();
  l.impl_->trunk = trunk;
  l.impl_->net = LpipsModule(trunk);
  // Frozen: a trainer differentiates through LPIPS w.r.t. its inputs only (per_layer_with_grad).
  for (auto& p : l.impl_->net->parameters()) p.set_requires_grad(false);
  place_for_inference(*l.impl_->net, device);
  l.impl_->device = device;
  return l;
}

LpipsNet LpipsNet::load(LpipsTrunk trunk, const std::vector<std::filesystem::path>& weights, const c10::Device& device) {
  LpipsNet l = random(trunk, c10::Device(c10::kCPU));
  model::WeightsLoadOptions options;
  options.ignore_key_prefixes = {"classifier."};  // torchvision's full alexnet/vgg16 files
  model::load_module_weights(*l.impl_->net, weights, options);
  place_for_inference(*l.impl_->net, device);
  l.impl_->device = device;
  return l;
}

void LpipsNet::set_dtype(at::ScalarType dtype) { impl_->net->to(dtype); }

LpipsTrunk LpipsNet::trunk() const { return impl_->trunk; }
c10::Device LpipsNet::device() const { return impl_->device; }

namespace {
void check_pair(LpipsTrunk trunk, const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) throw MetricError("LPIPS: the two images differ in size");
  const int64_t min_side = trunk == LpipsTrunk::Alex ? 31 : 16;
  if (a.size(2) < min_side || a.size(3) < min_side)
    throw MetricError("LPIPS (" + std::string(to_string(trunk)) + "): images must be at least " +
                      std::to_string(min_side) + " px on each side, got " + std::to_string(a.size(2)) + "x" +
                      std::to_string(a.size(3)));
}
}  // namespace

at::Tensor LpipsNet::per_layer_from_signed(const at::Tensor& a, const at::Tensor& b) const {
  check_pair(impl_->trunk, a, b);
  torch::NoGradGuard no_grad;
  return impl_->net->per_layer(a.to(impl_->device, at::kFloat), b.to(impl_->device, at::kFloat)).to(at::kCPU);
}

at::Tensor LpipsNet::per_layer_with_grad(const at::Tensor& a, const at::Tensor& b) const {
  check_pair(impl_->trunk, a, b);
  return impl_->net->per_layer(a, b);
}

at::Tensor LpipsNet::forward(const at::Tensor& a, const at::Tensor& b) const {
  return per_layer_from_signed(to_signed(a), to_signed(b)).sum(1);
}

std::vector<at::Tensor> LpipsNet::taps_from_signed(const at::Tensor& x) const {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> t = impl_->net->taps(x.to(impl_->device, at::kFloat));
  for (auto& v : t) v = v.to(at::kCPU);
  return t;
}

double LpipsNet::flops_per_pair(LpipsTrunk trunk, int64_t h, int64_t w) {
  torch::NoGradGuard no_grad;
  LpipsModule net(trunk);
  net->eval();
  double counter = 0;
  g_flop_counter = &counter;
  const torch::Tensor x = torch::zeros({1, 3, h, w});
  net->per_layer(x, x);
  g_flop_counter = nullptr;
  return counter;
}

}  // namespace osor::metrics
