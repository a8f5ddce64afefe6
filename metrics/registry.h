// The metric registry: every metric is one row of metric_entries(), found there by name (the CLI's --metric
// resolves here and `osor list` prints it). A row holds every fact about its metric, as pyiqa's metric table does:
// whether higher is better, its version and convention string (a function of the options, since PSNR's and SSIM's
// depend on --channels/--region and FID's on its preprocessing), the weights it needs, and its factory. Results
// record name, convention and version, and `osor compare` refuses to compare values whose convention or version
// differ. Adding a metric is one file (its definition and an ImageMetric or SetMetric) plus one row.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metrics/feature_extractor.h"
#include "metrics/pixel_options.h"

namespace osor::metrics {

struct MetricSpec {
  std::string name;        // e.g. "ssim"
  bool higher_is_better = true;
  std::string convention;  // e.g. "ssim[skimage-0.19,gaussian-1.5,population-cov,rgb,full]"
  int version = 1;
};

// What a row's factory builds a metric from: the row's facts under the caller's options, already checked.
struct MetricSetup {
  MetricSpec spec;        // name, direction and version from the row; the convention under these options
  PixelOptions pixels;    // --channels/--region; whole RGB images for metrics that take neither
  NetworkOptions network;
  std::string extractor;  // set metrics: the feature extractor whose features they compare
  std::vector<std::filesystem::path> weights_files;  // per-image network metrics: the row's weights files, present
  // Set metrics: network.preprocessing, or the extractor's default (its first mode) when empty. MetricError
  // ("unknown FID preprocessing 'x' (known: ...)") for a mode the extractor does not have.
  std::string preprocessing() const;
};

// A metric with one value per (prediction, reference) image pair. Its spec comes from the registry row.
class ImageMetric {
 public:
  virtual ~ImageMetric() = default;
  const MetricSpec& spec() const { return spec_; }
  const PixelOptions& pixels() const { return pixels_; }
  // A mask is needed when the region is not the whole image, or when the metric is defined on the object mask (cfd).
  virtual bool needs_mask() const { return pixels_.region != Region::Full; }
  // False for reference-free metrics (cfd): the reference is neither read nor required.
  virtual bool needs_reference() const { return true; }
  // pred, ref: [N,3,H,W] float in [0,1] (or uint8); mask: [N,1,H,W] or undefined. Returns [N] float64.
  // Safe to call from several threads at once (the runner's pipeline scores images in parallel).
  virtual at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const = 0;
  using Terms = std::vector<std::pair<std::string, double>>;
  // evaluate(), and in `terms` (when given) the named parts of the values, for the per-sample output (cfd: per
  // component "c<k>.value", "c<k>.d0", "c<k>.t<j>", over the N images in order); metrics without parts leave it
  // empty.
  virtual at::Tensor evaluate_with_terms(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask,
                                         Terms* terms) const {
    if (terms) terms->clear();
    return evaluate(pred, ref, mask);
  }

 protected:
  explicit ImageMetric(const MetricSetup& setup)
      : spec_(setup.spec), pixels_(setup.pixels) {}

 private:
  MetricSpec spec_;
  PixelOptions pixels_;
};

// A metric with one value per pair of image sets, computed from per-image features of a FeatureExtractor
// (metrics/feature_extractor.h): FID, CMMD. Spec, extractor and preprocessing come from the registry row.
class SetMetric {
 public:
  virtual ~SetMetric() = default;
  const MetricSpec& spec() const { return spec_; }
  const std::string& extractor() const { return extractor_; }          // feature extractor name
  const std::string& preprocessing() const { return preprocessing_; }  // the extractor's preprocessing mode
  // pred [N,D], ref [M,D] float32 or float64 features of the two sets.
  virtual double evaluate(const at::Tensor& pred, const at::Tensor& ref) const = 0;

 protected:
  explicit SetMetric(const MetricSetup& setup);

 private:
  MetricSpec spec_;
  std::string extractor_;
  std::string preprocessing_;
};

// One row per metric (metric_entries()).
struct MetricEntry {
  std::string name;
  std::string summary;
  bool per_image = true;  // one value per image pair (make_image); false: one per pair of image sets (make_set)
  bool higher_is_better = true;
  int version = 1;
  // The convention string under the options; MetricError for an option value the metric does not take.
  std::string (*convention)(const MetricSetup& setup) = nullptr;
  bool pixel_options = false;  // takes --channels/--region; otherwise it scores whole RGB images only
  std::string extractor = {};  // set metrics: the feature extractor whose features they compare (and its weights)
  // Per-image network metrics: the manifest ids (model/weights_manifest.h) of the weights under the options.
  std::vector<std::string> (*weights)(const MetricSetup& setup) = nullptr;
  std::unique_ptr<ImageMetric> (*make_image)(const MetricSetup& setup) = nullptr;
  std::unique_ptr<SetMetric> (*make_set)(const MetricSetup& setup) = nullptr;
  bool reference_free = false;  // scores a prediction with its object mask only (cfd); no reference is read
};

// Every registered metric, in table order.
const std::vector<MetricEntry>& metric_entries();
bool is_image_metric(const std::string& name);

bool is_set_metric(const std::string& name);
// A per-image metric that needs no reference (the row's reference_free).
bool is_reference_free_metric(const std::string& name);

// Throws MetricError for an unknown name, listing the known ones. Network metrics (lpips) load their
// weights from network.weights_dir and throw ModelError naming a missing file.
std::unique_ptr<ImageMetric> make_image_metric(const std::string& name, const PixelOptions& options,
                                               const NetworkOptions& network = {});
// fid | cmmd; validates the options, loads no network.
std::unique_ptr<SetMetric> make_set_metric(const std::string& name, const NetworkOptions& network = {});

// The metric's convention string under these options (osor list shows the defaults'); MetricError for an unknown
// name or an option value the metric does not take.
std::string metric_convention(const std::string& name, const NetworkOptions& network = {});

// Manifest ids of the weights files a metric needs under these options (empty for pixel metrics and unknown
// names); MetricError for an option value the metric does not take.
std::vector<std::string> metric_weights_ids(const std::string& name, const NetworkOptions& network = {});
// One line per missing file ("missing weights file DIR/NAME needed by ...; get it from ..."); empty when the
// metric can run. `osor score`/`osor eval` report a metric with missing weights as skipped with these lines.
std::vector<std::string> missing_weights(const std::string& name, const NetworkOptions& network);

}  // namespace osor::metrics
