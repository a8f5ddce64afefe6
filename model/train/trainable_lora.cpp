#include "model/train/trainable_lora.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "model/error.h"
#include "model/nn/layers.h"

namespace osor::model::train {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

at::Tensor trainable_leaf(const at::Tensor& t, at::ScalarType dtype) { return t.detach().to(dtype).clone().requires_grad_(true); }

// OSOR forces trainable parameters to float32 (`p.data = p.to(torch.float32)`): the parameter object (shared by the
// module's member and its parameter list) changes dtype in place.
void make_parameter_trainable(at::Tensor& p, at::ScalarType dtype) {
  if (!p.defined()) return;
  at::NoGradGuard no_grad;
  if (p.scalar_type() != dtype) p.set_data(p.to(dtype));
  p.requires_grad_(true);
}

}  // namespace

std::vector<std::string> sdxl_lora_targets() {
  return {"to_k", "to_q", "to_v", "to_out.0", "conv", "conv1", "conv2", "conv_shortcut", "proj_in", "proj_out",
          "ff.net.2", "ff.net.0.proj"};
}

bool peft_targets_module(const std::string& path, const std::vector<std::string>& targets) {
  return std::any_of(targets.begin(), targets.end(),
                     [&](const std::string& t) { return path == t || ends_with(path, "." + t); });
}

int64_t attach_fresh_lora(torch::nn::Module& network, const std::vector<std::string>& targets,
                          const TrainableLoraOptions& options) {
  if (options.rank <= 0) throw ModelError("LoRA rank must be positive, got " + std::to_string(options.rank));
  auto gen = at::detail::createCPUGenerator(options.seed);
  const double std_a = 1.0 / static_cast<double>(options.rank), scale = options.alpha / static_cast<double>(options.rank);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  int64_t wrapped = 0;
  for (const auto& [path, layer] : nn::named_linears(network)) {
    if (!peft_targets_module(path, targets) || layer->lora.down.defined()) continue;
    const at::Tensor a = at::randn({options.rank, layer->weight.size(1)}, gen, f32) * std_a;
    layer->attach_lora({a, at::zeros({layer->weight.size(0), options.rank}, f32), scale}, /*merge=*/false);
    ++wrapped;
  }
  for (const auto& [path, conv] : nn::named_convs(network)) {
    if (!peft_targets_module(path, targets) || conv->lora.down.defined()) continue;
    const auto& w = conv->weight;
    const at::Tensor a = at::randn({options.rank, w.size(1), w.size(2), w.size(3)}, gen, f32) * std_a;
    conv->attach_lora({a, at::zeros({w.size(0), options.rank, 1, 1}, f32), scale}, /*merge=*/false);
    ++wrapped;
  }
  if (wrapped == 0) throw ModelError("LoRA: no Linear/Conv2d layer of the network matches the target modules");
  return wrapped;
}

std::vector<std::pair<std::string, at::Tensor>> make_trainable(torch::nn::Module& network, const std::string& prefix,
                                                               const std::string& terminal_layer, at::ScalarType dtype) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto add_adapter = [&](const std::string& path, nn::LoraAdapter& lora) {
    if (!lora.down.defined()) return;
    lora.down = trainable_leaf(lora.down, dtype);
    lora.up = trainable_leaf(lora.up, dtype);
    out.emplace_back(prefix + path + ".lora_A.default.weight", lora.down);
    out.emplace_back(prefix + path + ".lora_B.default.weight", lora.up);
  };
  bool terminal_found = false;
  auto add_terminal = [&](const std::string& path, at::Tensor& weight, at::Tensor& bias) {
    if (path != terminal_layer) return;
    terminal_found = true;
    make_parameter_trainable(weight, dtype);
    make_parameter_trainable(bias, dtype);
    out.emplace_back(prefix + path + ".weight", weight);
    if (bias.defined()) out.emplace_back(prefix + path + ".bias", bias);
  };
  for (const auto& [path, layer] : nn::named_linears(network)) {
    add_adapter(path, layer->lora);
    add_terminal(path, layer->weight, layer->bias);
  }
  for (const auto& [path, conv] : nn::named_convs(network)) {
    add_adapter(path, conv->lora);
    add_terminal(path, conv->weight, conv->bias);
  }
  if (!terminal_found) throw ModelError("trainable parameters: the network has no terminal layer " + terminal_layer);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace osor::model::train
