#include "model/lora.h"

#include <cmath>
#include <utility>
#include <vector>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/nn/layers.h"
#include "model/unet/unet_2d_condition.h"

namespace osor::model {
namespace {

bool strip_prefix(std::string& s, const std::string& prefix) {
  if (s.rfind(prefix, 0) != 0) return false;
  s.erase(0, prefix.size());
  return true;
}

bool strip_suffix(std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.erase(s.size() - suffix.size());
  return true;
}

std::string canonical_name(std::string name) {
  for (bool again = true; again;) {
    again = false;
    for (const char* p : {"module.", "_orig_mod.", "unet.", "transformer.", "base_model.model."}) again |= strip_prefix(name, p);
  }
  return name;
}

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

// The network's Linear and Conv2d layers by module path: the layers an adapter may wrap.
struct Layers {
  std::map<std::string, nn::Linear*> linears;
  std::map<std::string, nn::Conv2d*> convs;
};

Layers index_layers(torch::nn::Module& root) {
  Layers layers;
  for (const auto& [path, l] : nn::named_linears(root)) layers.linears[path] = l;
  for (const auto& [path, c] : nn::named_convs(root)) layers.convs[path] = c;
  return layers;
}

struct AdapterPair {
  at::Tensor a, b;  // lora_A, lora_B
};

// The checkpoint's tensors by role: adapter pairs by module path, every other tensor by its parameter name
// (prefixes stripped).
struct CheckpointParts {
  std::map<std::string, AdapterPair> adapters;
  std::map<std::string, at::Tensor> plain;
};

CheckpointParts split_checkpoint(const std::map<std::string, at::Tensor>& tensors, const Layers& layers,
                                 const std::string& source) {
  CheckpointParts parts;
  for (const auto& [raw, tensor] : tensors) {
    std::string name = canonical_name(raw);
    std::string path = name;
    const bool is_a = strip_suffix(path, ".lora_A.default.weight") || strip_suffix(path, ".lora_A.weight");
    const bool is_b = !is_a && (strip_suffix(path, ".lora_B.default.weight") || strip_suffix(path, ".lora_B.weight"));
    if (is_a || is_b) {
      if (!layers.linears.count(path) && !layers.convs.count(path))
        throw ModelError("OSOR checkpoint " + source + ": " + raw + " names no Linear/Conv2d layer '" + path +
                         "' of the network (wrong base model or key layout?)");
      (is_a ? parts.adapters[path].a : parts.adapters[path].b) = tensor;
    } else {
      parts.plain[name] = tensor;
    }
  }
  return parts;
}

// Checks that every module has both halves and one rank for all; sets report.rank, report.scaling (alpha / r,
// alpha = rank unless given) and attaches each adapter (merged or at runtime).
void attach_adapters(const std::map<std::string, AdapterPair>& adapters, const Layers& layers,
                     const LoraOptions& options, const std::string& source, LoraReport& report) {
  for (const auto& [path, pair] : adapters) {
    if (!pair.a.defined() || !pair.b.defined())
      throw ModelError("OSOR checkpoint " + source + ": module " + path + " has only one of lora_A / lora_B");
    const int64_t r = pair.a.size(0);
    if (report.rank == 0) report.rank = r;
    if (r != report.rank)
      throw ModelError("OSOR checkpoint " + source + ": module " + path + " has rank " + std::to_string(r) +
                       ", others " + std::to_string(report.rank));
  }
  double alpha = options.alpha ? *options.alpha : -1.0;
  if (alpha < 0) alpha = static_cast<double>(report.rank);
  report.scaling = report.rank > 0 ? alpha / static_cast<double>(report.rank) : 1.0;
  for (const auto& [path, pair] : adapters) {
    nn::LoraAdapter adapter{pair.a, pair.b, report.scaling};
    try {
      if (auto it = layers.linears.find(path); it != layers.linears.end())
        it->second->attach_lora(adapter, options.merge);
      else
        layers.convs.at(path)->attach_lora(adapter, options.merge);
    } catch (const ModelError& e) {
      throw ModelError("OSOR checkpoint " + source + ": module " + path + ": " + e.what());
    }
    ++report.wrapped_modules;
  }
}

// The non-LoRA tensors: the trainable terminal layer (UNet conv_out, FLUX proj_out; possibly widened: replaced)
// and any other trained parameter (copied; its shape must match).
void copy_plain_tensors(std::map<std::string, at::Tensor> plain, torch::nn::Module& root, const Layers& layers,
                        const std::string& terminal, const std::string& source, LoraReport& report) {
  if (plain.count(terminal + ".weight")) {
    const auto weight = plain.at(terminal + ".weight");
    const auto bias = plain.count(terminal + ".bias") ? plain.at(terminal + ".bias") : at::Tensor();
    try {
      if (auto it = layers.linears.find(terminal); it != layers.linears.end())
        it->second->replace(weight, bias);
      else
        layers.convs.at(terminal)->replace(weight, bias);
    } catch (const ModelError& e) {
      throw ModelError("OSOR checkpoint " + source + ": " + terminal + ": " + e.what());
    }
    report.other_tensors += bias.defined() ? 2 : 1;
    plain.erase(terminal + ".weight");
    plain.erase(terminal + ".bias");
  }
  auto params = root.named_parameters();
  at::NoGradGuard no_grad;
  for (const auto& [name, tensor] : plain) {
    at::Tensor* p = params.find(name);
    if (!p)
      throw ModelError("OSOR checkpoint " + source + ": tensor " + name + " is neither a LoRA weight nor a parameter of the network");
    if (!p->sizes().equals(tensor.sizes()))
      throw ModelError("OSOR checkpoint " + source + ": tensor " + name + " has shape " + shape_text(tensor) +
                       ", the network's is " + shape_text(*p));
    p->copy_(tensor);
    ++report.other_tensors;
  }
}

int64_t output_channels(const Layers& layers, const std::string& terminal) {
  if (auto it = layers.linears.find(terminal); it != layers.linears.end()) return it->second->weight.size(0);
  return layers.convs.at(terminal)->weight.size(0);
}

// lora_alpha from the options, else from the file's "lora_alpha" / "alpha" metadata (else unset: alpha = rank).
LoraOptions with_metadata_alpha(const SafetensorsFile& file, LoraOptions o) {
  if (o.alpha) return o;
  const auto& meta = file.metadata();
  for (const char* key : {"lora_alpha", "alpha"})
    if (auto it = meta.find(key); it != meta.end()) {
      try {
        o.alpha = std::stod(it->second);
      } catch (const std::exception&) {
        throw ModelError("OSOR checkpoint " + file.label() + ": metadata " + key + " = '" + it->second + "' is not a number");
      }
      break;
    }
  return o;
}

std::map<std::string, at::Tensor> all_tensors(const SafetensorsFile& file) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : file.names()) tensors[name] = file.tensor(name);
  return tensors;
}

}  // namespace

LoraReport apply_osor_checkpoint(torch::nn::Module& network, const std::map<std::string, at::Tensor>& tensors,
                                 const std::string& source, const std::string& terminal_layer,
                                 const LoraOptions& options) {
  const Layers layers = index_layers(network);
  if (!layers.linears.count(terminal_layer) && !layers.convs.count(terminal_layer))
    throw ModelError("OSOR checkpoint " + source + ": the network has no terminal layer " + terminal_layer);
  CheckpointParts parts = split_checkpoint(tensors, layers, source);
  LoraReport report;
  if (options.enable_adapters) attach_adapters(parts.adapters, layers, options, source, report);
  copy_plain_tensors(std::move(parts.plain), network, layers, terminal_layer, source, report);
  report.output_channels = output_channels(layers, terminal_layer);
  return report;
}

LoraReport apply_osor_checkpoint(torch::nn::Module& network, const SafetensorsFile& file,
                                 const std::string& terminal_layer, const LoraOptions& options) {
  return apply_osor_checkpoint(network, all_tensors(file), file.label(), terminal_layer, with_metadata_alpha(file, options));
}

LoraReport apply_osor_checkpoint(UNet2DConditionModel& unet, const std::map<std::string, at::Tensor>& tensors,
                                 const std::string& source, const LoraOptions& options) {
  LoraReport report = apply_osor_checkpoint(unet.module(), tensors, source, "conv_out", options);
  report.conv_out_channels = report.output_channels;
  return report;
}

LoraReport apply_osor_checkpoint(UNet2DConditionModel& unet, const SafetensorsFile& file, const LoraOptions& options) {
  return apply_osor_checkpoint(unet, all_tensors(file), file.label(), with_metadata_alpha(file, options));
}

void widen_conv_out(UNet2DConditionModel& unet, int64_t channels, uint64_t seed) {
  nn::Conv2d* conv = nullptr;
  for (const auto& [path, c] : nn::named_convs(unet.module()))
    if (path == "conv_out") conv = c;
  if (!conv) throw ModelError("widen_conv_out: the UNet has no conv_out");
  const at::Tensor w = conv->weight;
  const int64_t old = w.size(0);
  if (channels < old) throw ModelError("widen_conv_out: cannot narrow conv_out from " + std::to_string(old));
  const int64_t fan_in = w.size(1) * w.size(2) * w.size(3);
  auto gen = at::detail::createCPUGenerator(seed);
  at::Tensor extra = at::randn({channels - old, w.size(1), w.size(2), w.size(3)}, gen, at::TensorOptions().dtype(at::kFloat)) *
                     std::sqrt(2.0 / static_cast<double>(fan_in));
  const at::Tensor new_w = at::cat({w.to(at::kFloat).cpu(), extra}, 0);
  const at::Tensor new_b = conv->bias.defined()
                               ? at::cat({conv->bias.to(at::kFloat).cpu(), at::zeros({channels - old})}, 0)
                               : at::Tensor();
  conv->replace(new_w, new_b);
}

}  // namespace osor::model
