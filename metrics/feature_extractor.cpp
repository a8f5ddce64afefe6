#include "metrics/feature_extractor.h"

#include <ATen/ATen.h>

#include <utility>

#include "metrics/error.h"
#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "model/weights_manifest.h"

namespace osor::metrics {
namespace {

std::vector<std::filesystem::path> require_files(const ExtractorEntry& entry, const NetworkOptions& options) {
  std::vector<std::filesystem::path> files;
  for (const std::string& id : entry.weights) files.push_back(model::require_weights_file(options.weights_dir, id));
  return files;
}

// The mode asked for, or the row's default (its first mode).
std::string requested_mode(const ExtractorEntry& entry, const NetworkOptions& options) {
  return options.preprocessing.empty() ? entry.preprocessing_modes.front() : options.preprocessing;
}

// What every extractor holds besides its network: its row's name, its canonical preprocessing mode, its batch
// size and the weights files it loaded (the feature cache keys on them).
class NetworkExtractor : public FeatureExtractor {
 public:
  const std::string& name() const override { return name_; }
  const std::string& preprocessing() const override { return preprocessing_; }
  const std::vector<std::filesystem::path>& weights_files() const override { return files_; }

 protected:
  // `preprocessing` comes parsed from the derived class, so that a bad mode is reported before a missing file.
  NetworkExtractor(const ExtractorEntry& entry, const NetworkOptions& options, std::string preprocessing,
                   int64_t default_batch_size)
      : name_(entry.name),
        preprocessing_(std::move(preprocessing)),
        batch_size_(options.batch_size > 0 ? options.batch_size : default_batch_size),
        files_(require_files(entry, options)) {}
  int64_t batch_size() const { return batch_size_; }

 private:
  std::string name_;
  std::string preprocessing_;
  int64_t batch_size_;
  std::vector<std::filesystem::path> files_;
};

// pytorch-fid's pool3 features (2048-d) under one of the three FID preprocessings; batches of 50 as pytorch-fid.
class InceptionExtractor final : public NetworkExtractor {
 public:
  InceptionExtractor(const ExtractorEntry& entry, const NetworkOptions& options)
      : InceptionExtractor(entry, options, fid_preprocess_from_string(requested_mode(entry, options))) {}
  int64_t dim() const override { return InceptionFid::kFeatureDim; }
  at::Tensor extract(const at::Tensor& images) const override {
    return net_.forward(images, mode_, batch_size()).to(at::kCPU, at::kFloat);
  }

 private:
  InceptionExtractor(const ExtractorEntry& entry, const NetworkOptions& options, FidPreprocess mode)
      : NetworkExtractor(entry, options, to_string(mode), 50),
        mode_(mode),
        net_(InceptionFid::load(weights_files(), c10::Device(options.device))) {}

  FidPreprocess mode_;
  InceptionFid net_;
};

ClipPreprocess clip_preprocess_from_string(const std::string& name) {
  if (name == "cmmd") return ClipPreprocess::CmmdCenterSquare;
  if (name == "clip-processor") return ClipPreprocess::ClipProcessor;
  throw MetricError("unknown CLIP preprocessing '" + name + "' (known: cmmd, clip-processor)");
}

// CMMD's embedding: CLIP image_embeds, L2-normalised (cmmd/embedding.py divides by the norm); batches of 32 as
// the reference.
class ClipExtractor final : public NetworkExtractor {
 public:
  ClipExtractor(const ExtractorEntry& entry, const NetworkOptions& options)
      : ClipExtractor(entry, options, clip_preprocess_from_string(requested_mode(entry, options))) {}
  int64_t dim() const override { return net_.config().projection_dim; }
  at::Tensor extract(const at::Tensor& images) const override {
    const at::Tensor e = net_.forward(images, mode_, batch_size()).to(at::kCPU, at::kFloat);
    return e / at::linalg_vector_norm(e, 2, at::IntArrayRef{-1}, /*keepdim=*/true, c10::nullopt);
  }

 private:
  // weights_files(): the config, then the weights (the row's order).
  ClipExtractor(const ExtractorEntry& entry, const NetworkOptions& options, ClipPreprocess mode)
      : NetworkExtractor(entry, options, to_string(mode), 32),
        mode_(mode),
        net_(ClipVision::load(weights_files().at(0), weights_files().at(1), c10::Device(options.device))) {}

  ClipPreprocess mode_;
  ClipVision net_;
};

template <class Extractor>
std::unique_ptr<FeatureExtractor> construct(const ExtractorEntry& entry, const NetworkOptions& options) {
  return std::make_unique<Extractor>(entry, options);
}

}  // namespace

const std::vector<ExtractorEntry>& extractor_entries() {
  static const std::vector<ExtractorEntry> entries = {
      {"inception-fid", "pytorch-fid InceptionV3 pool3, 2048-d (FID)", {"pytorch-fid", "clean-fid", "torchmetrics"},
       {"inception-fid"}, construct<InceptionExtractor>},
      {"clip-vit-l14-336", "CLIP ViT-L/14@336 image embeddings, L2-normalised, 768-d (CMMD)", {"cmmd", "clip-processor"},
       {"clip-config", "clip-weights"}, construct<ClipExtractor>},
  };
  return entries;
}

std::string canonical_extractor_name(const std::string& name) {
  if (name == "clip" || name == "clip-vit-l14-336") return "clip-vit-l14-336";
  if (name == "inception-fid" || name == "inception") return "inception-fid";
  std::string known;
  for (const auto& e : extractor_entries()) known += (known.empty() ? "" : ", ") + e.name;
  throw MetricError("unknown feature extractor '" + name + "' (known: " + known + ", clip)");
}

const ExtractorEntry& extractor_entry(const std::string& name) {
  const std::string canonical = canonical_extractor_name(name);
  for (const auto& e : extractor_entries())
    if (e.name == canonical) return e;
  throw MetricError("feature extractor '" + canonical + "' has no registry row");
}

std::vector<std::string> extractor_weights_ids(const std::string& name) { return extractor_entry(name).weights; }

std::unique_ptr<FeatureExtractor> make_feature_extractor(const std::string& name, const NetworkOptions& options) {
  const ExtractorEntry& entry = extractor_entry(name);
  return entry.make(entry, options);
}

}  // namespace osor::metrics
