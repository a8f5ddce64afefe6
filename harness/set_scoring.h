// Set-level metrics (FID, CMMD) over folders of images or over feature files, and the feature files
// themselves: what `osor score --metric fid|cmmd` and `osor features` compute.
//
// Feature file: safetensors with one tensor `features` [N,D] (float32; float64 accepted when reading) and
// metadata `names` = JSON list of the N image stems in row order, plus `extractor` and `preprocessing`
// when written by `osor features` (a set metric refuses features of another extractor or preprocessing).
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/feature_cache.h"
#include "metrics/feature_extractor.h"

namespace osor::harness {

struct FeatureSet {
  at::Tensor features;             // [N,D] float32 (float64 when read so from a file)
  std::vector<std::string> names;  // image stems, row order
  std::string extractor, preprocessing;  // empty when unknown (a file without that metadata)
  int64_t cache_hits = 0;
};

// Features of `images` (decoded with read_image), looked up in `cache` first when given and stored there
// after extraction. Consecutive images of equal size are batched together. `jobs` threads decode (and hash) the
// images ahead of the network (harness/pipeline.h); the batches, and so the features, do not depend on it.
FeatureSet extract_features(const metrics::FeatureExtractor& extractor, const std::vector<std::filesystem::path>& images,
                            const FeatureCache* cache, int jobs = 1);

void write_feature_file(const std::filesystem::path& path, const FeatureSet& set);
// Throws HarnessError/ModelError naming the file when it has no [N,D] float `features` tensor or its `names`
// metadata does not list N stems.
FeatureSet read_feature_file(const std::filesystem::path& path);

struct SetScoreRequest {
  std::string metric = "fid";
  metrics::NetworkOptions network;  // weights_dir resolved by the caller
  std::optional<std::filesystem::path> cache_dir;  // nothing: no cache
};

struct SetScoreResult {
  std::string metric, convention;
  int64_t n_pred = 0, n_ref = 0;
  double value = 0;
  int64_t cache_hits = 0;
};

// Image files of pred and ref folders (each a folder, or a single image file). Throws ModelError with the
// "skipped: missing weights file ..." line when the metric's weights are absent.
SetScoreResult score_image_sets(const std::filesystem::path& pred, const std::filesystem::path& ref,
                                const SetScoreRequest& request);
SetScoreResult score_feature_files(const std::filesystem::path& pred, const std::filesystem::path& ref,
                                   const SetScoreRequest& request);

// {"metric", "convention", "n_pred", "n_ref", "value"}
nlohmann::json set_score_json(const SetScoreResult& result);

// The image files of a folder (list_images) or the file itself.
std::vector<std::filesystem::path> image_files(const std::filesystem::path& folder_or_file);

}  // namespace osor::harness
