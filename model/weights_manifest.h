// Every weights file OSOR knows, in one table: its fixed name under the weights directory, who needs it,
// where to get it, the key layout it must have, and its sha256 where known. A user drops the converted
// official files into the directory; tests point the same code at fixture weights.
//
// Weights directory: `--weights DIR`, else $OSOR_WEIGHTS, else ~/.cache/osor/weights.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace osor::model {

// How `osor weights fetch` gets a file: the published file at `url`, checked against its sha256, then converted.
enum class WeightsConversion { None, PthToSafetensors };

struct WeightsDownload {
  std::string url;                // the published file; empty when there is no public download (`source` says how)
  std::string sha256;             // of the published file; empty when unknown
  bool sha256_is_prefix = false;  // `sha256` is only the prefix the publisher put in the file name (torch hub)
  WeightsConversion conversion = WeightsConversion::None;
  std::string strip_prefix;       // removed from every key by the conversion
};

struct WeightsFileInfo {
  std::string id;             // stable identifier, e.g. "inception-fid"
  std::string relative_path;  // under the weights directory, e.g. "pt_inception-2015-12-05.safetensors"
  std::string needed_by;      // the metric or method, e.g. "fid (pytorch-fid InceptionV3)"
  std::string source;         // where to get it and how to convert it
  std::string key_layout;     // the reference state-dict naming the loader expects
  std::string sha256;         // of the file as installed (the converted one for a .pth); empty when unknown
  WeightsDownload download;   // where `osor weights fetch` gets it
};

// The whole table, in a fixed order.
const std::vector<WeightsFileInfo>& weights_manifest();

// The entry with this id; throws ModelError listing the known ids.
const WeightsFileInfo& weights_file_info(const std::string& id);

// `cli_value` when non-empty, else $OSOR_WEIGHTS when set and non-empty, else $HOME/.cache/osor/weights.
std::filesystem::path resolve_weights_dir(const std::string& cli_value = "");

// "missing weights file DIR/NAME needed by WHO; get it from WHERE" (one line).
std::string missing_weights_message(const std::filesystem::path& weights_dir, const std::string& id);

// The path of file `id` under `weights_dir`; throws ModelError with missing_weights_message() when absent.
std::filesystem::path require_weights_file(const std::filesystem::path& weights_dir, const std::string& id);

}  // namespace osor::model
