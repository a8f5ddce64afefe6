#include "model/nn/layers.h"

#include <cmath>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "model/error.h"

namespace osor::model::nn {
namespace {

thread_local at::TensorOptions current_options = at::TensorOptions().dtype(at::kFloat);

at::Tensor new_param(torch::nn::Module& m, const std::string& name, at::IntArrayRef shape) {
  return m.register_parameter(name, at::empty(shape, current_options), /*requires_grad=*/false);
}

std::string shape_text(at::IntArrayRef s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

// ΔW = s·B·A for Linear and 1×1 convs; for k×k convs ΔW[o,i,:,:] = s·Σ_r B[o,r]·A[r,i,:,:] (PEFT).
at::Tensor delta_weight(const LoraAdapter& a, at::IntArrayRef weight_shape) {
  const at::Tensor down = a.down.to(at::kFloat).reshape({a.down.size(0), -1});
  const at::Tensor up = a.up.to(at::kFloat).reshape({a.up.size(0), -1});
  return (at::matmul(up, down) * a.scale).reshape(weight_shape);
}

void check_adapter(const LoraAdapter& a, int64_t out, int64_t in, const char* kind) {
  if (!a.down.defined() || !a.up.defined() || a.down.size(0) != a.up.size(1) || a.up.size(0) != out ||
      a.down.size(1) != in)
    throw ModelError(std::string("LoRA adapter for a ") + kind + " [out " + std::to_string(out) + ", in " +
                     std::to_string(in) + "] has lora_A " + shape_text(a.down.sizes()) + " and lora_B " +
                     shape_text(a.up.sizes()));
}

// Merged: weight += B·A·scale in float32, rounded back to the weight's dtype, and no adapter kept. Runtime: the
// adapter kept (in the weight's dtype and device) for forward() to add.
void attach(LoraAdapter adapter, bool merge, at::Tensor& weight, LoraAdapter& lora) {
  if (merge) {
    at::NoGradGuard no_grad;
    weight.copy_((weight.to(at::kFloat) + delta_weight(adapter, weight.sizes())).to(weight.scalar_type()));
    lora = {};
  } else {
    adapter.down = adapter.down.to(weight.options());
    adapter.up = adapter.up.to(weight.options());
    lora = std::move(adapter);
  }
}

}  // namespace

const at::TensorOptions& param_options() { return current_options; }

ParamOptionsScope::ParamOptionsScope(at::TensorOptions options) : previous_(current_options) {
  current_options = options;
}
ParamOptionsScope::~ParamOptionsScope() { current_options = previous_; }

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  weight = new_param(*this, "weight", {out, in});
  if (with_bias) bias = new_param(*this, "bias", {out});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  at::Tensor y = at::linear(x, weight, bias);
  if (lora.down.defined()) y = y + at::linear(at::linear(x, lora.down), lora.up) * lora.scale;
  return y;
}

void Linear::attach_lora(LoraAdapter adapter, bool merge) {
  if (adapter.down.dim() != 2 || adapter.up.dim() != 2)
    throw ModelError("LoRA adapter for a Linear layer must have 2-D lora_A/lora_B, got " +
                     shape_text(adapter.down.sizes()) + " and " + shape_text(adapter.up.sizes()));
  check_adapter(adapter, weight.size(0), weight.size(1), "Linear");
  attach(std::move(adapter), merge, weight, lora);
}

void Linear::replace(const at::Tensor& new_weight, const at::Tensor& new_bias) {
  if (lora.down.defined() || new_weight.dim() != 2 || new_weight.size(1) != weight.size(1) ||
      (bias.defined() && (!new_bias.defined() || new_bias.dim() != 1 || new_bias.size(0) != new_weight.size(0))))
    throw ModelError("cannot replace a Linear " + shape_text(weight.sizes()) + " by weight " +
                     shape_text(new_weight.sizes()) + (new_bias.defined() ? " and bias " + shape_text(new_bias.sizes()) : "") +
                     (lora.down.defined() ? " (a runtime LoRA adapter is attached)" : ""));
  at::NoGradGuard no_grad;
  weight.set_data(new_weight.to(weight.options()).contiguous());
  if (bias.defined()) bias.set_data(new_bias.to(bias.options()).contiguous());
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_, bool with_bias)
    : stride(stride_), padding(padding_) {
  weight = new_param(*this, "weight", {out, in, kernel, kernel});
  if (with_bias) bias = new_param(*this, "bias", {out});
}

at::Tensor Conv2d::forward(const at::Tensor& x) const {
  at::Tensor y = at::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
  if (lora.down.defined())
    y = y + at::conv2d(at::conv2d(x, lora.down, {}, {stride, stride}, {padding, padding}), lora.up) * lora.scale;
  return y;
}

void Conv2d::attach_lora(LoraAdapter adapter, bool merge) {
  if (adapter.down.dim() != 4 || adapter.up.dim() != 4 || adapter.up.size(2) != 1 || adapter.up.size(3) != 1 ||
      adapter.down.size(2) != weight.size(2) || adapter.down.size(3) != weight.size(3))
    throw ModelError("LoRA adapter for a Conv2d " + shape_text(weight.sizes()) + " has lora_A " +
                     shape_text(adapter.down.sizes()) + " and lora_B " + shape_text(adapter.up.sizes()) +
                     " (expected [r,in,kh,kw] and [out,r,1,1])");
  check_adapter(adapter, weight.size(0), weight.size(1), "Conv2d");
  attach(std::move(adapter), merge, weight, lora);
}

void Conv2d::replace(const at::Tensor& new_weight, const at::Tensor& new_bias) {
  if (new_weight.dim() != 4 || new_weight.size(1) != weight.size(1) || new_weight.size(2) != weight.size(2) ||
      new_weight.size(3) != weight.size(3) || (bias.defined() && (!new_bias.defined() || new_bias.dim() != 1 ||
                                                                  new_bias.size(0) != new_weight.size(0))))
    throw ModelError("cannot replace a Conv2d " + shape_text(weight.sizes()) + " by weight " +
                     shape_text(new_weight.sizes()) + (new_bias.defined() ? " and bias " + shape_text(new_bias.sizes()) : ""));
  at::NoGradGuard no_grad;
  weight.set_data(new_weight.to(weight.options()).contiguous(weight.suggest_memory_format()));
  if (bias.defined()) bias.set_data(new_bias.to(bias.options()).contiguous());
}

GroupNorm::GroupNorm(int64_t groups_, int64_t channels, double eps_, bool affine) : groups(groups_), eps(eps_) {
  if (channels % groups != 0)
    throw ModelError("GroupNorm: " + std::to_string(channels) + " channels are not divisible by " +
                     std::to_string(groups) + " groups");
  if (affine) {
    weight = new_param(*this, "weight", {channels});
    bias = new_param(*this, "bias", {channels});
  }
}

namespace {
// Under mixed precision (model/train/autocast_scope.h) a norm may receive a bfloat16 activation while its affine
// parameters are float32 (or the reverse); the norm then runs in its parameters' dtype, as CUDA autocast runs norms
// in float32 (LibTorch 1.13's CPU autocast leaves them out). Same dtypes (inference): unchanged.
at::Tensor in_dtype_of(const at::Tensor& x, const at::Tensor& weight) {
  return weight.defined() && x.scalar_type() != weight.scalar_type() ? x.to(weight.scalar_type()) : x;
}
}  // namespace

at::Tensor GroupNorm::forward(const at::Tensor& x) const {
  return at::group_norm(in_dtype_of(x, weight), groups, weight, bias, eps);
}

LayerNorm::LayerNorm(int64_t dim_, double eps_, bool affine) : dim(dim_), eps(eps_) {
  if (affine) {
    weight = new_param(*this, "weight", {dim});
    bias = new_param(*this, "bias", {dim});
  }
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(in_dtype_of(x, weight), {dim}, weight, bias, eps);
}

std::vector<std::pair<std::string, Linear*>> named_linears(torch::nn::Module& root) {
  std::vector<std::pair<std::string, Linear*>> out;
  for (const auto& item : root.named_modules("", /*include_self=*/false))
    if (auto* l = dynamic_cast<Linear*>(item.value().get())) out.emplace_back(item.key(), l);
  return out;
}

std::vector<std::pair<std::string, Conv2d*>> named_convs(torch::nn::Module& root) {
  std::vector<std::pair<std::string, Conv2d*>> out;
  for (const auto& item : root.named_modules("", /*include_self=*/false))
    if (auto* c = dynamic_cast<Conv2d*>(item.value().get())) out.emplace_back(item.key(), c);
  return out;
}

std::vector<at::Tensor> tensors_requiring_grad(const torch::nn::Module& root) {
  std::vector<at::Tensor> out;
  std::unordered_set<const void*> seen;
  auto add = [&](const at::Tensor& t) {
    if (t.defined() && t.requires_grad() && seen.insert(t.unsafeGetTensorImpl()).second) out.push_back(t);
  };
  for (const auto& p : root.parameters(/*recurse=*/true)) add(p);  // Linear/Conv2d weights and biases among them
  auto add_adapter = [&](const torch::nn::Module& m) {
    const LoraAdapter* lora = nullptr;
    if (const auto* l = dynamic_cast<const Linear*>(&m)) lora = &l->lora;
    if (const auto* c = dynamic_cast<const Conv2d*>(&m)) lora = &c->lora;
    if (!lora) return;
    add(lora->down);
    add(lora->up);
  };
  add_adapter(root);
  for (const auto& item : root.named_modules("", /*include_self=*/false)) add_adapter(*item.value());
  return out;
}

void set_conv_memory_format(torch::nn::Module& root, at::MemoryFormat format) {
  at::NoGradGuard no_grad;
  for (const auto& [name, conv] : named_convs(root)) {
    for (at::Tensor* w : {&conv->weight, &conv->lora.down, &conv->lora.up})
      if (w->defined() && w->dim() == 4) w->set_data(w->contiguous(format));
  }
}

int64_t parameter_count(const torch::nn::Module& root) {
  int64_t n = 0;
  for (const auto& p : root.parameters()) n += p.numel();
  return n;
}

void randomize_parameters(torch::nn::Module& root, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  // Parameters on a device are drawn there with the device's generator: drawing 2.6 billion values on the CPU
  // and copying them over would dominate the load time of a full-size network on a GPU.
  std::optional<at::Generator> device_gen;
  for (const auto& item : root.named_modules("", false)) {
    torch::nn::Module* m = item.value().get();
    auto init = [&](at::Tensor& w, at::Tensor& b, bool norm) {
      if (!w.defined()) return;
      if (norm) {
        w.fill_(1.0);
      } else {
        const int64_t fan_in = w.numel() / w.size(0);
        const double scale = std::sqrt(static_cast<double>(fan_in));
        if (w.is_cpu()) {
          w.copy_(at::randn(w.sizes(), gen, at::TensorOptions().dtype(at::kFloat)) / scale);
        } else {
          if (!device_gen) {
            device_gen = at::globalContext().defaultGenerator(w.device());
            std::lock_guard<std::mutex> lock(device_gen->mutex());
            device_gen->set_current_seed(seed);
          }
          w.normal_(0.0, 1.0 / scale, *device_gen);
        }
      }
      if (b.defined()) b.zero_();
    };
    if (auto* l = dynamic_cast<Linear*>(m)) init(l->weight, l->bias, false);
    if (auto* c = dynamic_cast<Conv2d*>(m)) init(c->weight, c->bias, false);
    if (auto* g = dynamic_cast<GroupNorm*>(m)) init(g->weight, g->bias, true);
    if (auto* n = dynamic_cast<LayerNorm*>(m)) init(n->weight, n->bias, true);
  }
}

}  // namespace osor::model::nn
