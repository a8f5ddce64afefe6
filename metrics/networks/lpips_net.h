// LPIPS v0.1 (richzhang/PerceptualSimilarity, pip lpips 0.1.4), spatial=False: ScalingLayer
// ((x - shift)/scale with float32 constants), an AlexNet (default) or VGG16 trunk tapped after its five ReLU
// stages, per-pixel channel normalisation f / (sqrt(Σ_c f²) + 1e-10) (eps outside the sqrt, unlike
// torchmetrics' 1e-8 inside), squared difference, 1×1 conv without bias (lin{k}.model.1.weight), spatial
// mean, sum over the five layers. Trunk weights under torchvision's `features.N.{weight,bias}` names.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace osor::metrics {

enum class LpipsTrunk { Alex, Vgg };
const char* to_string(LpipsTrunk trunk);  // "alex", "vgg"

class LpipsNet {
 public:
  // Files whose union holds the trunk's features.* and lin0..lin4 (e.g. alexnet.safetensors +
  // lpips_alex_v0.1.safetensors, or one file with both). classifier.* is ignored. Throws ModelError.
  static LpipsNet load(LpipsTrunk trunk, const std::vector<std::filesystem::path>& weights,
                       const c10::Device& device);
  static LpipsNet random(LpipsTrunk trunk, const c10::Device& device, uint64_t seed = 0);

  // a, b: [N,3,H,W], float in [0,1] or uint8 (u8/127.5 - 1 in double, as lpips.im2tensor), same size,
  // H, W ≥ 31 for alex and ≥ 16 for vgg → [N] float32 (CPU), one distance per pair.
  at::Tensor forward(const at::Tensor& a, const at::Tensor& b) const;
  // The same from inputs already in [-1,1] (the reference's forward(in0, in1)); returns [N,5] per-layer d_k.
  at::Tensor per_layer_from_signed(const at::Tensor& a, const at::Tensor& b) const;
  // The same, differentiable w.r.t. a and b (the trainer's perceptual loss, OSOR's LPIPSLoss): inputs stay on
  // their device and dtype (the net's), the result [N,5] too. The network's own weights are frozen.
  at::Tensor per_layer_with_grad(const at::Tensor& a, const at::Tensor& b) const;
  // Converts the network's weights (float32 after load/random) to `dtype`, for per_layer_with_grad on inputs of that
  // dtype (float64 parity checks of the trainer). The other methods expect float32.
  void set_dtype(at::ScalarType dtype);
  // The trunk's five taps of one input in [-1,1] (after the scaling layer), for debugging.
  std::vector<at::Tensor> taps_from_signed(const at::Tensor& x) const;

  LpipsTrunk trunk() const;
  c10::Device device() const;
  // FLOPs of one pair at h × w (two trunk passes + the heads).
  static double flops_per_pair(LpipsTrunk trunk, int64_t h, int64_t w);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace osor::metrics
