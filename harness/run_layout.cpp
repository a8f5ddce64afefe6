#include "harness/run_layout.h"

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/run_folder.h"
#include "harness/run_record.h"
#include "harness/statistics.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {

std::string method_folder_name(const std::string& id) {
  std::string slug;
  for (char c : id) slug += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  if (slug.size() > 48) slug.resize(48);
  const uint64_t h = seed_from(id, 0);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(h & 0xffffffffull));
  return slug + "-" + buf;
}

CellDirs cell_dirs(const fs::path& run_dir, const std::string& bench, const std::string& method_folder,
                   const std::string& masks) {
  const fs::path rel = fs::path(bench) / method_folder / masks;
  return {run_dir / "outputs" / rel, run_dir / "records" / rel};
}

SamplePaths sample_paths(const CellDirs& cell, const std::string& id) {
  return {cell.outputs / (id + ".png"), cell.outputs / (id + ".alpha.png"), cell.records / (id + ".json"),
          cell.records / (id + ".removal.json")};
}

fs::path set_cell_file(const CellDirs& cell, const std::string& metric) {
  return cell.records / ("_set_" + metric + ".json");
}

void write_set_cell_value(const CellDirs& cell, const std::string& metric, double value, int n, int n_failed) {
  write_file_atomic(set_cell_file(cell, metric),
                    json{{"metric", metric}, {"status", "ok"}, {"value", json_value(value)}, {"n", n},
                         {"n_failed", n_failed}}.dump() + "\n");
}

void write_set_cell_failure(const CellDirs& cell, const std::string& metric, const std::string& error, int n_failed) {
  write_file_atomic(set_cell_file(cell, metric),
                    json{{"metric", metric}, {"status", "failed"}, {"error", error}, {"n", 0},
                         {"n_failed", n_failed}}.dump() + "\n");
}

bool set_cell_done(const CellDirs& cell, const std::string& metric) {
  const fs::path file = set_cell_file(cell, metric);
  std::error_code ec;
  if (!fs::exists(file, ec)) return false;
  try {
    return read_json_file(file).value("status", "ok") == "ok";
  } catch (const std::exception&) {
    return false;
  }
}

std::string features_key(const std::string& extractor, const std::string& preprocessing) {
  std::string key = extractor + "." + preprocessing;
  for (char& c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return key;
}

fs::path shard_features_file(const fs::path& run_dir, const std::string& bench, const std::string& method_folder,
                             const std::string& masks, const std::string& key) {
  return run_dir / "features" / bench / method_folder / (masks + "." + key + ".safetensors");
}

fs::path shard_reference_features_file(const fs::path& run_dir, const std::string& bench, const std::string& key) {
  return run_dir / "features" / bench / ("reference." + key + ".safetensors");
}

}  // namespace osor::harness
