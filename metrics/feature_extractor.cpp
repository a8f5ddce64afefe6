#include "metrics/feature_extractor.h"

#include <ATen/ATen.h>

#include "metrics/error.h"
#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "model/weights_manifest.h"

namespace osor::metrics {
namespace {

std::vector<std::filesystem::path> require_files(const std::string& extractor, const NetworkOptions& options) {
  std::vector<std::filesystem::path> files;
  for (const std::string& id : extractor_weights_ids(extractor))
    files.push_back(model::require_weights_file(options.weights_dir, id));
  return files;
}

// pytorch-fid's pool3 features (2048-d) under one of the three FID preprocessings.
class InceptionExtractor final : public FeatureExtractor {
 public:
  explicit InceptionExtractor(const NetworkOptions& options)
      : mode_(fid_preprocess_from_string(options.preprocessing.empty() ? "pytorch-fid" : options.preprocessing)),
        preprocessing_(to_string(mode_)),
        batch_size_(options.batch_size > 0 ? options.batch_size : 50),
        files_(require_files("inception-fid", options)),
        net_(InceptionFid::load(files_, c10::Device(options.device))) {}
  const std::string& name() const override { return name_; }
  const std::string& preprocessing() const override { return preprocessing_; }
  int64_t dim() const override { return InceptionFid::kFeatureDim; }
  const std::vector<std::filesystem::path>& weights_files() const override { return files_; }
  at::Tensor extract(const at::Tensor& images) const override {
    return net_.forward(images, mode_, batch_size_).to(at::kCPU, at::kFloat);
  }

 private:
  std::string name_ = "inception-fid";
  FidPreprocess mode_;
  std::string preprocessing_;
  int64_t batch_size_;
  std::vector<std::filesystem::path> files_;
  InceptionFid net_;
};

ClipPreprocess clip_preprocess_from_string(const std::string& name) {
  if (name.empty() || name == "cmmd") return ClipPreprocess::CmmdCenterSquare;
  if (name == "clip-processor") return ClipPreprocess::ClipProcessor;
  throw MetricError("unknown CLIP preprocessing '" + name + "' (known: cmmd, clip-processor)");
}

// CMMD's embedding: CLIP image_embeds, L2-normalised (cmmd/embedding.py divides by the norm).
class ClipExtractor final : public FeatureExtractor {
 public:
  explicit ClipExtractor(const NetworkOptions& options)
      : mode_(clip_preprocess_from_string(options.preprocessing)),
        preprocessing_(to_string(mode_)),
        batch_size_(options.batch_size > 0 ? options.batch_size : 32),
        files_(require_files("clip-vit-l14-336", options)),
        net_(ClipVision::load(files_.at(0), files_.at(1), c10::Device(options.device))) {}
  const std::string& name() const override { return name_; }
  const std::string& preprocessing() const override { return preprocessing_; }
  int64_t dim() const override { return net_.config().projection_dim; }
  const std::vector<std::filesystem::path>& weights_files() const override { return files_; }
  at::Tensor extract(const at::Tensor& images) const override {
    const at::Tensor e = net_.forward(images, mode_, batch_size_).to(at::kCPU, at::kFloat);
    return e / at::linalg_vector_norm(e, 2, at::IntArrayRef{-1}, /*keepdim=*/true, c10::nullopt);
  }

 private:
  std::string name_ = "clip-vit-l14-336";
  ClipPreprocess mode_;
  std::string preprocessing_;
  int64_t batch_size_;
  std::vector<std::filesystem::path> files_;
  ClipVision net_;
};

}  // namespace

const std::vector<ExtractorEntry>& extractor_entries() {
  static const std::vector<ExtractorEntry> entries = {
      {"inception-fid", "pytorch-fid InceptionV3 pool3, 2048-d (FID)", {"pytorch-fid", "clean-fid", "torchmetrics"}},
      {"clip-vit-l14-336", "CLIP ViT-L/14@336 image embeddings, L2-normalised, 768-d (CMMD)", {"cmmd", "clip-processor"}},
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

std::vector<std::string> extractor_weights_ids(const std::string& name) {
  const std::string canonical = canonical_extractor_name(name);
  if (canonical == "inception-fid") return {"inception-fid"};
  return {"clip-config", "clip-weights"};
}

std::unique_ptr<FeatureExtractor> make_feature_extractor(const std::string& name, const NetworkOptions& options) {
  const std::string canonical = canonical_extractor_name(name);
  if (canonical == "inception-fid") return std::make_unique<InceptionExtractor>(options);
  return std::make_unique<ClipExtractor>(options);
}

}  // namespace osor::metrics
