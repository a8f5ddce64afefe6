#include "model/flux/flux_lora_names.h"

#include <ATen/ATen.h>

#include <vector>

#include "model/error.h"
#include "model/flux/bfl_key_names.h"
#include "model/flux/flux_transformer.h"
#include "model/io/safetensors.h"
#include "model/nn/layers.h"

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

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

enum class Role { down, up, alpha, plain, text_encoder };

struct Key {
  std::string module;  // the module path as the file names it (kohya: already dotted BFL)
  Role role = Role::plain;
};

// The role of one key and its module path, whatever the layout.
Key classify(const std::string& raw, const std::string& source) {
  Key k{raw, Role::plain};
  if (raw.rfind("lora_te", 0) == 0 || raw.rfind("text_encoder", 0) == 0) return {raw, Role::text_encoder};
  std::string name = raw;
  const bool kohya = strip_prefix(name, "lora_unet_");
  for (bool again = !kohya; again;) {
    again = false;
    for (const char* p : {"transformer.", "base_model.model.", "model.diffusion_model.", "diffusion_model."})
      again |= strip_prefix(name, p);
  }
  static const std::pair<const char*, Role> kSuffixes[] = {
      {".lora_A.weight", Role::down},     {".lora_A.default.weight", Role::down}, {".lora_down.weight", Role::down},
      {".lora_B.weight", Role::up},       {".lora_B.default.weight", Role::up},   {".lora_up.weight", Role::up},
      {".alpha", Role::alpha}};
  for (const auto& [suffix, role] : kSuffixes)
    if (strip_suffix(name, suffix)) {
      k.role = role;
      break;
    }
  if (kohya) {
    const std::string bfl = flux::kohya_to_bfl_module(name);
    if (bfl.empty() || k.role == Role::plain)
      throw ModelError("FLUX LoRA " + source + ": kohya key " + raw + " names no FLUX.1 transformer module");
    name = bfl;
  }
  k.module = name;
  return k;
}

struct Halves {
  at::Tensor down, up, alpha;
};

double module_scale(const Halves& h, const LoraOptions& options) {
  const double rank = static_cast<double>(h.down.size(0));
  if (h.alpha.defined()) return h.alpha.to(at::kDouble).item<double>() / rank;
  return options.alpha ? *options.alpha / rank : 1.0;
}

// One module's adapter(s) under diffusers paths: a BFL module's fused lora_up split by rows.
void add_adapters(FluxLoraFile& out, const std::string& module, const Halves& h, int64_t inner_dim,
                  const LoraOptions& options, const std::string& source) {
  if (!h.down.defined() || !h.up.defined() || h.down.dim() != 2 || h.up.dim() != 2)
    throw ModelError("FLUX LoRA " + source + ": module " + module + " needs 2-D lora_A/lora_down and lora_B/lora_up");
  const double scale = module_scale(h, options);
  flux::BflModule bfl;
  if (!flux::bfl_module_to_diffusers(module, bfl)) {
    out.adapters[module] = {h.down, h.up, scale};
    return;
  }
  const std::vector<at::Tensor> rows = flux::split_bfl_rows(h.up, bfl.split, inner_dim);
  if (rows.empty())
    throw ModelError("FLUX LoRA " + source + ": lora_up of " + module + " is " + shape_text(h.up) +
                     ", which does not split into " + std::to_string(bfl.diffusers.size()) + " modules of width " +
                     std::to_string(inner_dim));
  for (size_t i = 0; i < rows.size(); ++i) out.adapters[bfl.diffusers[i]] = {h.down, rows[i], scale};
}

}  // namespace

FluxLoraFile read_flux_lora(const std::map<std::string, at::Tensor>& tensors, int64_t inner_dim,
                            const std::string& source, const LoraOptions& options) {
  FluxLoraFile out;
  std::map<std::string, Halves> modules;
  std::map<std::string, at::Tensor> plain;
  for (const auto& [raw, tensor] : tensors) {
    const Key k = classify(raw, source);
    switch (k.role) {
      case Role::text_encoder: ++out.skipped_text_encoder; break;
      case Role::down: modules[k.module].down = tensor; break;
      case Role::up: modules[k.module].up = tensor; break;
      case Role::alpha: modules[k.module].alpha = tensor; break;
      case Role::plain: plain[k.module] = tensor; break;
    }
  }
  for (const auto& [module, halves] : modules) add_adapters(out, module, halves, inner_dim, options, source);
  std::vector<std::string> names;
  for (const auto& entry : plain) names.push_back(entry.first);
  out.plain = flux::is_bfl_layout(names) ? flux::bfl_to_diffusers(plain, inner_dim, source) : plain;
  return out;
}

LoraReport apply_flux_lora(FluxTransformer2DModel& transformer, const FluxLoraFile& lora, const std::string& source,
                           const LoraOptions& options) {
  std::map<std::string, nn::Linear*> linears;
  for (const auto& [path, linear] : nn::named_linears(transformer.module())) linears[path] = linear;
  LoraReport report;
  for (const auto& [path, a] : lora.adapters) {
    const auto it = linears.find(path);
    if (it == linears.end())
      throw ModelError("FLUX LoRA " + source + ": module " + path + " is no Linear layer of the FLUX transformer");
    try {
      it->second->attach_lora(nn::LoraAdapter{a.down, a.up, a.scale}, options.merge);
    } catch (const ModelError& e) {
      throw ModelError("FLUX LoRA " + source + ": module " + path + ": " + e.what() +
                       (path == "x_embedder" ? " (a widened x_embedder, e.g. OmniEraser's 256 inputs?)" : ""));
    }
    if (report.rank == 0) {
      report.rank = a.down.size(0);
      report.scaling = a.scale;
    }
    ++report.wrapped_modules;
  }
  auto params = transformer.module().named_parameters();
  at::NoGradGuard no_grad;
  for (const auto& [name, tensor] : lora.plain) {
    at::Tensor* p = params.find(name);
    if (!p || !p->sizes().equals(tensor.sizes()))
      throw ModelError("FLUX LoRA " + source + ": tensor " + name + " " + shape_text(tensor) +
                       (p ? " does not fit the transformer's " + shape_text(*p) : " is neither a LoRA weight nor a transformer parameter"));
    p->copy_(tensor);
    ++report.other_tensors;
  }
  return report;
}

LoraReport apply_flux_lora(FluxTransformer2DModel& transformer, const SafetensorsFile& file,
                           const LoraOptions& options) {
  LoraOptions o = options;
  if (!o.alpha)
    for (const char* key : {"lora_alpha", "alpha"})
      if (auto it = file.metadata().find(key); it != file.metadata().end()) {
        try {
          o.alpha = std::stod(it->second);
        } catch (const std::exception&) {
          throw ModelError("FLUX LoRA " + file.label() + ": metadata " + key + " = '" + it->second + "' is not a number");
        }
        break;
      }
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : file.names()) tensors[name] = file.tensor(name);
  const FluxLoraFile lora = read_flux_lora(tensors, transformer.config().inner_dim(), file.label(), o);
  return apply_flux_lora(transformer, lora, file.label(), o);
}

}  // namespace osor::model
