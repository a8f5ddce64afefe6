// Parameter-holding layers of the in-tree networks (Linear, Conv2d, GroupNorm, LayerNorm) and a numbered
// container. Internal to model/: include only from the .cpp files that define networks.
//
// Why not torch::nn::Linear/Conv2d: parameters are created with the options of a ParamOptionsScope (so a
// full-size architecture can be built on the `meta` device and counted without allocating), and Linear/Conv2d
// carry an optional LoRA adapter kept outside named_parameters(), so the parameter list stays exactly the
// checkpoint's key list (diffusers names) whether an adapter is attached at runtime or merged.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>

namespace osor::model::nn {

// Options (device, dtype) for parameters created by the layers below on this thread.
const at::TensorOptions& param_options();
class ParamOptionsScope {
 public:
  explicit ParamOptionsScope(at::TensorOptions options);
  ~ParamOptionsScope();
  ParamOptionsScope(const ParamOptionsScope&) = delete;
  ParamOptionsScope& operator=(const ParamOptionsScope&) = delete;

 private:
  at::TensorOptions previous_;
};

// A PEFT-convention low-rank adapter: y += scale · B(A(x)). A has the base layer's input side (for a conv, its
// kernel, stride and padding), B is [out, r] (a 1×1 conv for convolutions).
struct LoraAdapter {
  at::Tensor down;  // lora_A: Linear [r, in] / Conv [r, in, kh, kw]
  at::Tensor up;    // lora_B: Linear [out, r] / Conv [out, r, 1, 1]
  double scale = 1.0;
};

class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;
  // Runtime mode keeps the adapter beside the weights; merge folds it into `weight` (PEFT's get_delta_weight).
  void attach_lora(LoraAdapter adapter, bool merge);
  // Replaces the weights (e.g. OSOR's 64→68 widened FLUX proj_out): the number of outputs may change, the inputs
  // may not; refused while a runtime adapter is attached.
  void replace(const at::Tensor& new_weight, const at::Tensor& new_bias);
  at::Tensor weight, bias;
  LoraAdapter lora;  // undefined tensors when none is attached at runtime
};

class Conv2d : public torch::nn::Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;
  void attach_lora(LoraAdapter adapter, bool merge);
  // Replaces the weights (e.g. OSOR's 4→5 widened conv_out); shapes may change, kernel geometry may not. The
  // weight keeps its memory format (set_conv_memory_format).
  void replace(const at::Tensor& new_weight, const at::Tensor& new_bias);
  int64_t stride, padding;
  at::Tensor weight, bias;
  LoraAdapter lora;
};

class GroupNorm : public torch::nn::Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps, bool affine = true);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t groups;
  double eps;
  at::Tensor weight, bias;
};

class LayerNorm : public torch::nn::Module {
 public:
  LayerNorm(int64_t dim, double eps, bool affine = true);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t dim;
  double eps;
  at::Tensor weight, bias;
};

// Children registered as "0", "1", ... (diffusers' nn.ModuleList naming: `resnets.0`, `to_out.0`).
class List : public torch::nn::Module {
 public:
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> module) {
    register_module(std::to_string(count_++), module);
    return module;
  }
  // A placeholder index without parameters (e.g. the Dropout at `ff.net.1`).
  void skip() { ++count_; }

 private:
  int64_t count_ = 0;
};

// Every Linear/Conv2d below `root`, by its dotted path (e.g. "down_blocks.0.resnets.0.conv1").
std::vector<std::pair<std::string, Linear*>> named_linears(torch::nn::Module& root);
std::vector<std::pair<std::string, Conv2d*>> named_convs(torch::nn::Module& root);

// Every tensor below `root` that requires grad, each once: its registered parameters and the weights of its
// Linear/Conv2d layers that do, and their runtime LoRA adapters (lora.down/up: plain members, not parameters) that
// do. What a trainer updates inside `root` (model/train/trainable_lora.h), and what an activation-checkpointed block
// needs to know about (model/nn/activation_checkpoint.h).
std::vector<at::Tensor> tensors_requiring_grad(const torch::nn::Module& root);

// Stores every Conv2d weight below `root` (and a runtime LoRA adapter's) in `format`: ChannelsLast makes the
// convolutions run in NHWC (cuDNN's tensor-core layout; a convolution's output follows its weight's layout), the
// values are unchanged.
void set_conv_memory_format(torch::nn::Module& root, at::MemoryFormat format);

// The number of parameter values below `root` (an adapter kept at runtime holds none: it is not a parameter).
int64_t parameter_count(const torch::nn::Module& root);

// Fills every parameter with a deterministic random init (weights N(0, 1/fan_in), biases 0, norms 1/0):
// for measurements with random full-size weights.
void randomize_parameters(torch::nn::Module& root, uint64_t seed);

}  // namespace osor::model::nn
