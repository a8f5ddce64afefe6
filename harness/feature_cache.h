// The feature cache: network features of single images, so that adding one method to a table extracts only
// that method's features. Key = SHA-256 of the decoded pixels (shape + float32 values, so the same picture as
// PNG or re-encoded losslessly hits) + extractor name + SHA-256 of its weights files + preprocessing mode.
//
// Layout: one HDF5 file per key, DIR/<extractor>/<preprocessing>-<weights hash[0:16]>/<image hash[0:2]>/
// <image hash>.h5, holding the dataset `features` (float32 [D]) and the full key as string attributes.
// Why one file per entry and not one shared HDF5 file: HDF5 has no safe concurrent writers (file locking is
// all-or-nothing and unreliable on network filesystems) and a process killed inside H5Dwrite can leave a
// shared file unreadable, losing every entry. Here each entry is written to a temporary file in the same
// folder and renamed into place (atomic on POSIX), so concurrent runs never see a half-written entry, two
// runs writing the same key write identical content, and an interrupted run leaves at most a stray *.tmp.*
// file (ignored by lookups, removed by `osor cache clear`). A read checks the stored key attributes and the
// shape; an unreadable or mismatching file is a miss and is rewritten.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <vector>
#include <optional>
#include <string>

namespace osor::harness {

struct FeatureKey {
  std::string image_hash;     // sha256 hex of the decoded pixels (image_content_hash)
  std::string extractor;      // e.g. "inception-fid"
  std::string weights_hash;   // sha256 hex over the extractor's weights files
  std::string preprocessing;  // e.g. "pytorch-fid"
};

// SHA-256 of an image tensor's shape and values as float32 (what read_image decoded).
std::string image_content_hash(const at::Tensor& image);

class FeatureCache {
 public:
  explicit FeatureCache(std::filesystem::path dir);

  // `cli_value` when non-empty, else $OSOR_CACHE/features when $OSOR_CACHE is set, else ~/.cache/osor/features.
  static std::filesystem::path resolve_dir(const std::string& cli_value = "");

  const std::filesystem::path& dir() const { return dir_; }

  // The cached [D] float32 vector, or nothing (absent, unreadable, or stored under another key).
  std::optional<at::Tensor> get(const FeatureKey& key) const;
  // Stores a [D] (or [1,D]) feature vector atomically. Returns false (and warns) when the write fails:
  // the cache is an optimisation and never fails a run.
  bool put(const FeatureKey& key, const at::Tensor& features) const;

  struct Info {
    uint64_t entries = 0, bytes = 0, stray_temporaries = 0;
    std::map<std::string, uint64_t> entries_by_group;  // "<extractor>/<preprocessing>-<weights>" → count
  };
  Info info() const;
  // Removes every entry and temporary file under dir (the folder itself stays). Returns the number of entries.
  uint64_t clear() const;

  std::filesystem::path entry_path(const FeatureKey& key) const;

 private:
  std::filesystem::path dir_;
};

// SHA-256 over the files' own SHA-256s, in order. Each file's hash is memoised in
// <cache dir>/weights-hashes/ keyed by absolute path, size and modification time, so a 1.7 GB CLIP file is
// hashed once, not once per run.
std::string weights_files_hash(const FeatureCache& cache, const std::vector<std::filesystem::path>& files);

}  // namespace osor::harness
