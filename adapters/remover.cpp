#include "adapters/remover.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>

#include "adapters/error.h"

namespace osor::adapters {

std::string MethodSpec::text() const {
  std::string out = name;
  char sep = ':';
  for (const auto& [key, value] : options) {
    out += sep + key + "=" + value;
    sep = ',';
  }
  return out;
}

MethodSpec MethodSpec::parse(const std::string& text) {
  MethodSpec spec;
  const size_t colon = text.find(':');
  spec.name = text.substr(0, colon);
  if (spec.name.empty()) throw AdapterError("method '" + text + "': empty method name");
  if (colon == std::string::npos) return spec;
  size_t start = colon + 1;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    if (item.empty() || eq == std::string::npos || eq == 0)
      throw AdapterError("method '" + text + "': option '" + item + "' is not key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "name") {
      validate_label(value);
      spec.label = value;
    } else {
      spec.options[key] = value;
    }
    start = end + 1;
  }
  return spec;
}

void validate_label(const std::string& label) {
  auto refuse = [&](const std::string& rule) {
    std::string shown;
    for (unsigned char c : label) {
      if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        shown += buf;
      } else {
        shown += static_cast<char>(c);
      }
    }
    throw AdapterError("method label name='" + shown + "': " + rule +
                       " (a label is the method's name in tables, never a path)");
  };
  if (label.empty()) refuse("empty");
  if (label.size() > 64) refuse("longer than 64 characters");
  if (label == "." || label == "..") refuse("'.' and '..' are not labels");
  if (label.front() == ' ' || label.back() == ' ') refuse("leading or trailing space");
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7f) refuse("contains a control character");
    if (c == '/' || c == '\\') refuse("contains '/' or '\\'");
  }
}

double option_number(const MethodSpec& spec, const std::string& key, double fallback) {
  const auto it = spec.options.find(key);
  if (it == spec.options.end()) return fallback;
  char* end = nullptr;
  const double value = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0')
    throw AdapterError("method " + spec.name + ": option " + key + "=" + it->second + " is not a number");
  return value;
}

std::string option_text(const MethodSpec& spec, const std::string& key, const std::string& fallback) {
  const auto it = spec.options.find(key);
  return it == spec.options.end() ? fallback : it->second;
}

bool option_flag(const MethodSpec& spec, const std::string& key, bool fallback) {
  const auto it = spec.options.find(key);
  if (it == spec.options.end()) return fallback;
  const std::string& v = it->second;
  if (v == "1" || v == "on" || v == "true") return true;
  if (v == "0" || v == "off" || v == "false") return false;
  throw AdapterError("method " + spec.name + ": option " + key + "=" + v + " must be 1/0, on/off or true/false");
}

at::ScalarType model_dtype(const std::string& method, const std::string& name) {
  if (name == "fp32") return at::kFloat;
  if (name == "fp16") return at::kHalf;
  if (name == "bf16") return at::kBFloat16;
  throw AdapterError("method " + method + ": --dtype must be fp32, fp16 or bf16 (got '" + name + "')");
}

at::Tensor to_u8(const at::Tensor& image01) { return (image01 * 255.0).round().clamp(0, 255).to(at::kByte); }

}  // namespace osor::adapters
