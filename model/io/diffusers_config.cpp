#include "model/io/diffusers_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "model/error.h"

namespace osor::model {
namespace {

using nlohmann::json;

// An integer, or a float with an integral value (32.0); the JSON library would truncate 32.5 silently.
bool integral(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::trunc(d) == d && std::fabs(d) < 9.0e18;  // false for NaN and ±inf; in int64_t's range
}

int64_t to_integer(const json& v) {
  return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
}

// The entries of a JSON array of integers; nullopt for any other value.
std::optional<std::vector<int64_t>> integer_list(const json& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<int64_t> list;
  for (const json& x : v) {
    if (!integral(x)) return std::nullopt;
    list.push_back(to_integer(x));
  }
  return list;
}

// The entries of a JSON array of strings; nullopt for any other value.
std::optional<std::vector<std::string>> string_list(const json& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<std::string> list;
  for (const json& x : v) {
    if (!x.is_string()) return std::nullopt;
    list.push_back(x.get<std::string>());
  }
  return list;
}

// A string's characters, any other value's JSON text.
std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

}  // namespace

DiffusersConfig::DiffusersConfig(std::shared_ptr<const json> parsed, std::string kind, std::string source)
    : json_(std::move(parsed)), kind_(std::move(kind)), source_(std::move(source)) {}

DiffusersConfig DiffusersConfig::parse(const std::string& text, const std::string& kind, const std::string& source) {
  auto parsed = std::make_shared<json>();
  try {
    *parsed = json::parse(text);
  } catch (const json::exception& e) {
    throw ModelError(kind + " " + source + ": not valid JSON (" + e.what() + ")");
  }
  if (!parsed->is_object()) throw ModelError(kind + " " + source + ": not a JSON object of settings");
  return DiffusersConfig(std::move(parsed), kind, source);
}

DiffusersConfig DiffusersConfig::read(const std::filesystem::path& path, const std::string& kind) {
  std::ifstream in(path);
  if (!in) throw ModelError(kind + " " + path.string() + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), kind, path.string());
}

void DiffusersConfig::fail(const std::string& what) const { throw ModelError(kind_ + " " + source_ + ": " + what); }

bool DiffusersConfig::has(const std::string& key) const {
  const auto it = json_->find(key);
  return it != json_->end() && !it->is_null();
}

bool DiffusersConfig::is_null(const std::string& key) const {
  const auto it = json_->find(key);
  return it != json_->end() && it->is_null();
}

bool DiffusersConfig::is_list(const std::string& key) const {
  const auto it = json_->find(key);
  return it != json_->end() && it->is_array();
}

const json& DiffusersConfig::value_of(const std::string& key) const { return json_->at(key); }

void DiffusersConfig::assign(const std::string& key, bool& out) const {
  if (!has(key)) return;
  const json& v = value_of(key);
  if (!v.is_boolean()) fail(key + " must be true or false");
  out = v.get<bool>();
}

void DiffusersConfig::assign(const std::string& key, int64_t& out) const {
  if (!has(key)) return;
  const json& v = value_of(key);
  if (!integral(v)) fail(key + " must be an integer");
  out = to_integer(v);
}

void DiffusersConfig::assign(const std::string& key, double& out) const {
  if (!has(key)) return;
  const json& v = value_of(key);
  if (!v.is_number()) fail(key + " must be a number");
  out = v.get<double>();
}

void DiffusersConfig::assign(const std::string& key, std::string& out) const {
  if (!has(key)) return;
  const json& v = value_of(key);
  if (!v.is_string()) fail(key + " must be a string");
  out = v.get<std::string>();
}

void DiffusersConfig::assign(const std::string& key, std::vector<int64_t>& out) const {
  if (!has(key)) return;
  auto list = integer_list(value_of(key));
  if (!list) fail(key + " must be a list of integers");
  out = std::move(*list);
}

void DiffusersConfig::assign(const std::string& key, std::vector<std::string>& out) const {
  if (!has(key)) return;
  auto list = string_list(value_of(key));
  if (!list) fail(key + " must be a list of strings");
  out = std::move(*list);
}

std::vector<int64_t> DiffusersConfig::per_block(const std::string& key, size_t blocks, int64_t fallback) const {
  if (!has(key)) return std::vector<int64_t>(blocks, fallback);
  const json& v = value_of(key);
  if (integral(v)) return std::vector<int64_t>(blocks, to_integer(v));
  const auto list = integer_list(v);
  if (v.is_array() && !list) fail(key + " entries must be integers (nested lists are not supported)");
  if (!list || list->size() != blocks) fail(key + " must be an integer or a list of " + std::to_string(blocks));
  return *list;
}

std::string DiffusersConfig::choice(const std::string& key, const std::string& fallback,
                                    const std::vector<std::string>& allowed) const {
  const std::string value = get(key, fallback);
  for (const auto& a : allowed)
    if (value == a) return value;
  fail(key + " " + value + " is not supported (" + joined(allowed) + ")");
}

void DiffusersConfig::expect_one_of(const std::string& key, const std::vector<std::string>& allowed,
                                    const std::string& note) const {
  if (!has(key)) return;
  const std::string value = text_of(value_of(key));
  for (const auto& a : allowed)
    if (value == a) return;
  fail(key + " " + value + " is not supported" + note);
}

void DiffusersConfig::expect_class(const std::string& class_name, const std::string& note) const {
  if (has("_class_name") && text_of(value_of("_class_name")) != class_name)
    fail("_class_name is " + value_of("_class_name").dump() + ", expected " + class_name + note);
}

}  // namespace osor::model
