#include "model/io/module_weights.h"

#include <torch/nn/module.h>

#include <map>
#include <sstream>

#include "model/error.h"
#include "model/io/safetensors.h"

namespace osor::model {

namespace {

bool starts_with_any(const std::string& s, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes)
    if (s.compare(0, p.size(), p) == 0) return true;
  return false;
}

bool ends_with_any(const std::string& s, const std::vector<std::string>& suffixes) {
  for (const auto& p : suffixes)
    if (s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0) return true;
  return false;
}

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << ']';
  return s.str();
}

std::string join_list(const std::vector<std::string>& items, size_t max_items = 12) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max_items) out += ", ... (" + std::to_string(items.size() - max_items) + " more)";
  return out;
}

}  // namespace

void load_module_weights(torch::nn::Module& module, const std::vector<std::filesystem::path>& files,
                         const WeightsLoadOptions& options) {
  std::string files_label;
  std::vector<SafetensorsFile> opened;
  std::map<std::string, size_t> where;  // key → file index
  std::vector<std::string> problems;
  for (const auto& f : files) {
    files_label += (files_label.empty() ? "" : " + ") + f.string();
    opened.push_back(SafetensorsFile::open(f));
    for (const auto& name : opened.back().names()) {
      const auto [it, inserted] = where.emplace(name, opened.size() - 1);
      if (!inserted) problems.push_back("key " + name + " is in both " + opened[it->second].label() + " and " + f.string());
    }
  }

  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) targets.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) targets.emplace_back(item.key(), item.value());

  std::vector<std::string> missing, mismatched, unexpected;
  std::map<std::string, bool> used;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const auto& [name, target] : targets) {
    const auto it = where.find(name);
    if (it == where.end()) {
      if (!ends_with_any(name, options.optional_module_suffixes)) missing.push_back(name);
      continue;
    }
    used[name] = true;
    const SafetensorsFile& file = opened[it->second];
    const SafetensorsEntry& e = file.entry(name);
    if (at::IntArrayRef(e.shape) != target.sizes()) {
      mismatched.push_back(name + " has shape " + shape_string(e.shape) + " in " + file.label() + ", expected " +
                           shape_string(target.sizes()));
      continue;
    }
    at::Tensor source = file.tensor(name);
    if (at::isFloatingType(source.scalar_type()) != at::isFloatingType(target.scalar_type())) {
      mismatched.push_back(name + " has dtype " + e.dtype + " in " + file.label() + ", expected " +
                           std::string(c10::toString(target.scalar_type())));
      continue;
    }
    copies.emplace_back(target, source);
  }
  for (const auto& [name, index] : where) {
    if (used.count(name)) continue;
    if (starts_with_any(name, options.ignore_key_prefixes) || ends_with_any(name, options.ignore_key_suffixes)) continue;
    unexpected.push_back(name);
  }
  if (!missing.empty()) problems.push_back(std::to_string(missing.size()) + " missing keys: " + join_list(missing));
  if (!unexpected.empty())
    problems.push_back(std::to_string(unexpected.size()) + " unexpected keys: " + join_list(unexpected));
  if (!mismatched.empty()) problems.push_back(join_list(mismatched, 6));
  if (!problems.empty()) {
    std::string message = "weights file " + files_label + " does not fit the module: ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    throw ModelError(message);
  }
  at::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
}

}  // namespace osor::model
