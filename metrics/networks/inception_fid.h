// The FID Inception: pytorch-fid's InceptionV3 (TF inception-2015-12-05 graph as a torchvision Inception3
// with the FID patches: BN eps 1e-3, count_include_pad=False average pools in Mixed_5*/6b-e/7b, a max pool in
// Mixed_7c's pool branch) returning pool3, the 2048-d global average of Mixed_7c. Weights are loaded by
// pytorch-fid's state-dict names (Conv2d_1a_3x3.conv.weight, Mixed_5b.branch_pool.bn.running_var, ...);
// fc.* and num_batches_tracked are ignored.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osor::metrics {

// How images become the network's 299×299 input in [-1,1].
enum class FidPreprocess {
  PytorchFid,   // pytorch-fid: x in [0,1], F.interpolate bilinear align_corners=False, no antialias; 2x-1
  CleanFid,     // clean-fid "clean": PIL bicubic mode 'F' on 0..255 per channel, clip to [0,255]; (x-128)/128
  Torchmetrics  // torchmetrics >= 1.8: bilinear with antialias on 0..255; (x-128)/128
};
const char* to_string(FidPreprocess mode);  // "pytorch-fid", "clean-fid", "torchmetrics"
FidPreprocess fid_preprocess_from_string(const std::string& name);  // throws MetricError

class InceptionFid {
 public:
  static constexpr int64_t kFeatureDim = 2048;
  static constexpr int64_t kInputSize = 299;

  // Loads the weights from one or more safetensors files whose union holds every key (the real
  // pt_inception-2015-12-05.safetensors, or the conformance formula file + BN file). Throws ModelError.
  static InceptionFid load(const std::vector<std::filesystem::path>& weights, const c10::Device& device);
  // Random weights (benchmarks only; BN running statistics 0/1).
  static InceptionFid random(const c10::Device& device, uint64_t seed = 0);

  // images [N,3,H,W] float in [0,1] (or uint8) on any device → [N,3,299,299] float32 in [-1,1] on the
  // network's device. CleanFid needs 8-bit-representable values and runs its resize on the CPU.
  at::Tensor preprocess(const at::Tensor& images, FidPreprocess mode = FidPreprocess::PytorchFid) const;
  // Network input (after preprocess; any size ≥ 75 works as for torchvision) → pool3 [N,2048] float32 (CPU).
  at::Tensor pool3(const at::Tensor& input) const;
  // preprocess + pool3, in batches of at most `batch_size` images.
  at::Tensor forward(const at::Tensor& images, FidPreprocess mode = FidPreprocess::PytorchFid,
                     int64_t batch_size = 50) const;

  // Named intermediate activations for debugging parity (block0_out, block1_out, Mixed_5b, ..., Mixed_7c).
  std::vector<std::pair<std::string, at::Tensor>> intermediates(const at::Tensor& input) const;

  c10::Device device() const;
  // Multiply-accumulate count ×2 of one 299×299 forward (for throughput reports).
  static double flops_per_image();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace osor::metrics
