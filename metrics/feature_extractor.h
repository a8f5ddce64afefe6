// Feature extractors: the networks whose per-image features set-level metrics compare (FID's Inception pool3,
// CMMD's CLIP image embeddings). An extractor is identified by its name, its preprocessing mode and its weights
// files; those three and the image's content make the feature-cache key (harness/feature_cache.h, which also
// hashes the weights files). `osor features --net NAME` writes an extractor's output to a file.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace osor::metrics {

// What the network metrics need besides their inputs.
struct NetworkOptions {
  std::filesystem::path weights_dir;  // already resolved (model::resolve_weights_dir)
  std::string device = "cpu";
  std::string preprocessing;          // empty: the reference's own (pytorch-fid for FID, cmmd for CLIP)
  int64_t batch_size = 0;             // 0: the reference's default (50 for Inception, 32 for CLIP)
  std::string lpips_net = "alex";     // alex | vgg
  std::string sqrtm = "sqrtm";        // FID's tr sqrtm method: sqrtm | eigh (metrics/frechet_distance.h)
  bool mmd_float64 = false;           // CMMD's MMD all in float64 instead of float32 kernels + double sums
  std::string cfd_mode = "official";  // CFD: official (the published code's quirks) | corrected (metrics/cfd.h)
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual const std::string& name() const = 0;           // registry name, e.g. "inception-fid"
  virtual const std::string& preprocessing() const = 0;  // e.g. "pytorch-fid", "cmmd"
  virtual int64_t dim() const = 0;
  // The weights files actually loaded (the cache hashes them).
  virtual const std::vector<std::filesystem::path>& weights_files() const = 0;
  // images: [N,3,H,W] float in [0,1], RGB, one size per call → [N,D] float32 on the CPU.
  virtual at::Tensor extract(const at::Tensor& images) const = 0;
};

// One row per extractor: everything the registry knows about it.
struct ExtractorEntry {
  std::string name;
  std::string summary;
  std::vector<std::string> preprocessing_modes;  // the first is the default
  std::vector<std::string> weights = {};         // manifest ids (model/weights_manifest.h) of the files it loads
  // Loads the network (files from `weights`, in that order) under the options.
  std::unique_ptr<FeatureExtractor> (*make)(const ExtractorEntry& entry, const NetworkOptions& options) = nullptr;
};

// Every registered extractor ("inception-fid", "clip-vit-l14-336"; "clip" is accepted as an alias).
const std::vector<ExtractorEntry>& extractor_entries();
// The canonical name of `name` or an alias; throws MetricError listing the known names.
std::string canonical_extractor_name(const std::string& name);
// The row of `name` or an alias; throws MetricError listing the known names.
const ExtractorEntry& extractor_entry(const std::string& name);

// Manifest ids (model/weights_manifest.h) of the files the extractor loads.
std::vector<std::string> extractor_weights_ids(const std::string& name);

// Loads the network from options.weights_dir. Throws ModelError with the manifest's "missing weights file ...
// get it from ..." line when a file is absent, MetricError for an unknown name or preprocessing mode.
std::unique_ptr<FeatureExtractor> make_feature_extractor(const std::string& name, const NetworkOptions& options);

}  // namespace osor::metrics
