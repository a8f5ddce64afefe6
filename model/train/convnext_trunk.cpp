#include "model/train/convnext_trunk.h"

#include <torch/torch.h>

#include "model/error.h"
#include "model/nn/layers.h"

namespace osor::model::train {
namespace {

using model::nn::Conv2d;
using model::nn::LayerNorm;
using model::nn::Linear;

// timm's LayerNorm2d: LayerNorm over channels of an NCHW map.
at::Tensor layer_norm_2d(const LayerNorm& norm, const at::Tensor& x) {
  return norm.forward(x.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
}

// Depthwise convolution (`conv_dw`: groups = channels, "same" padding) under the timm key names weight/bias.
class DepthwiseConv2d : public torch::nn::Module {
 public:
  DepthwiseConv2d(int64_t channels, int64_t kernel) {
    const auto& o = model::nn::param_options();
    weight = register_parameter("weight", at::zeros({channels, 1, kernel, kernel}, o));
    bias = register_parameter("bias", at::zeros({channels}, o));
  }
  at::Tensor forward(const at::Tensor& x) const {
    const int64_t pad = weight.size(2) / 2;
    return at::conv2d(x, weight, bias, at::IntArrayRef{1, 1}, at::IntArrayRef{pad, pad}, at::IntArrayRef{1, 1},
                      weight.size(0));
  }
  at::Tensor weight, bias;
};

class Mlp : public torch::nn::Module {
 public:
  Mlp(int64_t dim, int64_t hidden) {
    fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden));
    fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim));
  }
  at::Tensor forward(const at::Tensor& x) const { return fc2->forward(at::gelu(fc1->forward(x))); }
  std::shared_ptr<Linear> fc1, fc2;
};

class Block : public torch::nn::Module {
 public:
  Block(int64_t dim, const ConvNeXtConfig& c) {
    gamma = register_parameter("gamma", at::ones({dim}, model::nn::param_options()));
    conv_dw = register_module("conv_dw", std::make_shared<DepthwiseConv2d>(dim, c.kernel_size));
    norm = register_module("norm", std::make_shared<LayerNorm>(dim, c.norm_eps));
    mlp = register_module("mlp", std::make_shared<Mlp>(dim, c.mlp_ratio * dim));
  }
  at::Tensor forward(const at::Tensor& x) const {
    at::Tensor y = norm->forward(conv_dw->forward(x).permute({0, 2, 3, 1}));
    y = mlp->forward(y).permute({0, 3, 1, 2});
    return x + y * gamma.view({1, -1, 1, 1});
  }
  at::Tensor gamma;
  std::shared_ptr<DepthwiseConv2d> conv_dw;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Mlp> mlp;
};

class Downsample : public torch::nn::Module {
 public:
  Downsample(int64_t in, int64_t out, double eps) {
    norm = register_module("0", std::make_shared<LayerNorm>(in, eps));
    conv = register_module("1", std::make_shared<Conv2d>(in, out, 2, 2));
  }
  at::Tensor forward(const at::Tensor& x) const { return conv->forward(layer_norm_2d(*norm, x)); }
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Conv2d> conv;
};

class Stage : public torch::nn::Module {
 public:
  Stage(int64_t in, int64_t out, int64_t depth, const ConvNeXtConfig& c) {
    if (in != out) downsample = register_module("downsample", std::make_shared<Downsample>(in, out, c.norm_eps));
    auto list = register_module("blocks", std::make_shared<model::nn::List>());
    for (int64_t j = 0; j < depth; ++j) blocks.push_back(list->add(std::make_shared<Block>(out, c)));
  }
  at::Tensor forward(at::Tensor x) const {
    if (downsample) x = downsample->forward(x);
    for (const auto& b : blocks) x = b->forward(x);
    return x;
  }
  std::shared_ptr<Downsample> downsample;
  std::vector<std::shared_ptr<Block>> blocks;
};

class Stem : public torch::nn::Module {
 public:
  Stem(int64_t out, double eps) {
    conv = register_module("0", std::make_shared<Conv2d>(3, out, 4, 4));
    norm = register_module("1", std::make_shared<LayerNorm>(out, eps));
  }
  at::Tensor forward(const at::Tensor& x) const { return layer_norm_2d(*norm, conv->forward(x)); }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<LayerNorm> norm;
};

}  // namespace

class ConvNeXtTrunkImpl : public torch::nn::Module {
 public:
  explicit ConvNeXtTrunkImpl(const ConvNeXtConfig& c) {
    if (c.depths.size() != c.dims.size() || c.dims.empty())
      throw ModelError("ConvNeXt trunk: depths and dims must be non-empty lists of the same length");
    stem = register_module("stem", std::make_shared<Stem>(c.dims[0], c.norm_eps));
    auto list = register_module("stages", std::make_shared<model::nn::List>());
    for (size_t i = 0; i < c.dims.size(); ++i)
      stages.push_back(list->add(std::make_shared<Stage>(i ? c.dims[i - 1] : c.dims[0], c.dims[i], c.depths[i], c)));
    for (auto& p : parameters()) p.set_requires_grad(false);
  }
  std::shared_ptr<Stem> stem;
  std::vector<std::shared_ptr<Stage>> stages;
};

std::shared_ptr<torch::nn::Module> make_convnext_trunk(const ConvNeXtConfig& config) {
  return std::make_shared<ConvNeXtTrunkImpl>(config);
}

namespace {
ConvNeXtTrunkImpl& as_trunk(torch::nn::Module& m) {
  auto* t = dynamic_cast<ConvNeXtTrunkImpl*>(&m);
  if (!t) throw ModelError("convnext_stage_outputs: the module is not a ConvNeXt trunk (make_convnext_trunk)");
  return *t;
}
}  // namespace

at::Tensor convnext_stem(torch::nn::Module& trunk, const at::Tensor& x) { return as_trunk(trunk).stem->forward(x); }

std::vector<at::Tensor> convnext_stage_outputs(torch::nn::Module& trunk, const at::Tensor& x) {
  auto& t = as_trunk(trunk);
  std::vector<at::Tensor> out;
  at::Tensor h = t.stem->forward(x);
  for (const auto& s : t.stages) out.push_back(h = s->forward(h));
  return out;
}

}  // namespace osor::model::train
