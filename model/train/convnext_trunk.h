// The discriminator's frozen image trunk: timm's ConvNeXt as OpenCLIP wraps it (`visual.trunk`, timm ≤ 1.0.15 key
// names: stem.{0,1}, stages.i.downsample.{0,1}, stages.i.blocks.j.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}),
// returning the four *stage outputs* un-normed — what OSOR's forward_intermediates(...)[1:] gave with the timm it
// was trained with (spec §5.3; newer timm drops the stem from that list and the heads mis-pair).
//   stem: conv 4×4 stride 4 → LayerNorm2d;  stage i > 0: LayerNorm2d → conv 2×2 stride 2;
//   block: dwconv 7×7 → LayerNorm(C) → fc1 (C→4C) → GELU(erf) → fc2 → × gamma → + shortcut  (drop_path off: eval)
// convnext_xxlarge uses norm eps 1e-5 (other ConvNeXts 1e-6). The architecture (depths, dims) is read from the
// weights' shapes, so the real trunk and the fixtures' tiny ones load through the same code.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model::train {

struct ConvNeXtConfig {
  std::vector<int64_t> depths{3, 4, 30, 3};           // convnext_xxlarge
  std::vector<int64_t> dims{384, 768, 1536, 3072};
  double norm_eps = 1e-5;
  int64_t kernel_size = 7, mlp_ratio = 4;
};

class ConvNeXtTrunkImpl;
// Builds the trunk module (parameters in nn::param_options(), frozen: requires_grad false).
std::shared_ptr<torch::nn::Module> make_convnext_trunk(const ConvNeXtConfig& config);
// x [B,3,H,W] (already CLIP-normalised) → the four stage outputs [B,dims[i],H/2^(i+2),W/2^(i+2)].
std::vector<at::Tensor> convnext_stage_outputs(torch::nn::Module& trunk, const at::Tensor& x);
// The stem's output (LayerNorm2d applied), for traces.
at::Tensor convnext_stem(torch::nn::Module& trunk, const at::Tensor& x);

}  // namespace osor::model::train
