#include "model/io/sharded_weights.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/error.h"
#include "model/io/safetensors.h"

namespace osor::model {
namespace {

nlohmann::json read_index(const std::filesystem::path& index) {
  std::ifstream in(index);
  if (!in) throw ModelError("weights index " + index.string() + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    throw ModelError("weights index " + index.string() + ": not a JSON object");
  if (!json.contains("weight_map") || !json.at("weight_map").is_object() || json.at("weight_map").empty())
    throw ModelError("weights index " + index.string() + ": no \"weight_map\" object of tensor name -> shard file");
  return json;
}

bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

}  // namespace

std::vector<std::filesystem::path> sharded_weight_files(const std::filesystem::path& index) {
  const nlohmann::json json = read_index(index);
  std::vector<std::filesystem::path> files;
  std::map<std::string, std::vector<std::string>> keys_by_shard;
  for (const auto& [key, value] : json.at("weight_map").items()) {
    if (!value.is_string() || !plain_file_name(value.get<std::string>()))
      throw ModelError("weights index " + index.string() + ": tensor " + key +
                       " maps to something other than a file name in the same folder");
    const std::string shard = value.get<std::string>();
    if (!keys_by_shard.count(shard)) files.push_back(index.parent_path() / shard);
    keys_by_shard[shard].push_back(key);
  }
  for (const auto& [shard, keys] : keys_by_shard) {
    const std::filesystem::path path = index.parent_path() / shard;
    if (!std::filesystem::exists(path))
      throw ModelError("weights index " + index.string() + ": shard " + path.string() + " does not exist");
    const SafetensorsFile file = SafetensorsFile::open(path);  // maps the file, reads the header only
    for (const auto& key : keys)
      if (!file.contains(key))
        throw ModelError("weights index " + index.string() + ": tensor " + key + " is not in its shard " + path.string());
  }
  return files;
}

std::vector<std::filesystem::path> diffusers_weight_files(const std::filesystem::path& folder, const std::string& stem) {
  const std::filesystem::path single = folder / (stem + ".safetensors");
  if (std::filesystem::exists(single)) return {single};
  const std::filesystem::path index = folder / (stem + ".safetensors.index.json");
  if (std::filesystem::exists(index)) return sharded_weight_files(index);
  throw ModelError("weights folder " + folder.string() + ": neither " + single.filename().string() + " nor " +
                   index.filename().string() + " exists");
}

}  // namespace osor::model
