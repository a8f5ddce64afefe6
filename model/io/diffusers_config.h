// The one reader of diffusers' config.json files (UNet2DConditionModel, AutoencoderKL, the schedulers'
// scheduler_config.json; the FLUX transformer's next): a JSON object of settings, where a key that is absent or
// null takes diffusers' default for it (`register_to_config` writes null for a None argument). Typed accessors
// check each value's type, so a config that gets one wrong is refused with an error naming the file and the key
// instead of a JSON library message; every ModelError reads "<kind> <source>: <what>", e.g.
// "UNet config sdxl-inpainting/unet/config.json: block_out_channels must be a list of integers".
//
// Integers accept an integral float (32.0, as a hand-edited config may write), nothing else; numbers accept
// integers; a list is a JSON array whose every entry has the element type (no nesting).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace osor::model {

class DiffusersConfig {
 public:
  // `kind` names the component in errors ("UNet config", "scheduler config"), `source` the file or fixture key.
  // ModelError: not valid JSON, or not a JSON object.
  static DiffusersConfig parse(const std::string& text, const std::string& kind, const std::string& source);
  // parse() of the file's text, `path` as the source; ModelError "<kind> <path>: cannot read the file".
  static DiffusersConfig read(const std::filesystem::path& path, const std::string& kind);

  const std::string& source() const { return source_; }
  // The key is present with a value other than null.
  bool has(const std::string& key) const;
  // The key is present with the value null: diffusers' None, which for most keys means the default and for a few
  // means "none" (mid_block_type).
  bool is_null(const std::string& key) const;
  // The key is present with a list (JSON array) value.
  bool is_list(const std::string& key) const;

  // T is bool, int64_t, double, std::string, std::vector<int64_t> or std::vector<std::string>; any other type
  // does not compile. A value of another type is a ModelError ("norm_eps must be a number").
  // An optional setting: `fallback` when the key is absent or null.
  template <class T>
  T get(const std::string& key, T fallback) const {
    assign(key, fallback);
    return fallback;
  }
  // An optional setting without a default: nullopt when the key is absent or null.
  template <class T>
  std::optional<T> get_optional(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    T value{};
    assign(key, value);
    return value;
  }
  // A setting the file must give: ModelError "<key> is required" when it is absent or null.
  template <class T>
  T require(const std::string& key) const {
    if (!has(key)) fail(key + " is required");
    T value{};
    assign(key, value);
    return value;
  }

  // diffusers' per-block settings (num_attention_heads, transformer_layers_per_block): one integer for every
  // block or a list of `blocks` integers; `fallback` for every block when the key is absent or null.
  std::vector<int64_t> per_block(const std::string& key, size_t blocks, int64_t fallback) const;
  // A string setting with a default that must be one of `allowed`: ModelError
  // "<key> <value> is not supported (a, b, ...)".
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed) const;
  // A setting implemented for some values only: passes when the key is absent or null or its text (a string's
  // characters, any other value's JSON: false, 1, 1.0) is one of `allowed` (empty: none is); otherwise ModelError
  // "<key> <text> is not supported" followed by `note`.
  void expect_one_of(const std::string& key, const std::vector<std::string>& allowed,
                     const std::string& note = "") const;
  // "_class_name", when given, must be `class_name`: ModelError "_class_name is "X", expected <class_name>" + note.
  void expect_class(const std::string& class_name, const std::string& note = "") const;

  // Throws ModelError "<kind> <source>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  DiffusersConfig(std::shared_ptr<const nlohmann::json> parsed, std::string kind, std::string source);
  // Each stores the value of `key` in `out` when the key is present and not null, and leaves `out` otherwise.
  void assign(const std::string& key, bool& out) const;
  void assign(const std::string& key, int64_t& out) const;
  void assign(const std::string& key, double& out) const;
  void assign(const std::string& key, std::string& out) const;
  void assign(const std::string& key, std::vector<int64_t>& out) const;
  void assign(const std::string& key, std::vector<std::string>& out) const;
  // The value of a key has() found.
  const nlohmann::json& value_of(const std::string& key) const;

  std::shared_ptr<const nlohmann::json> json_;
  std::string kind_, source_;
};

}  // namespace osor::model
