// The metric registry: every metric is found here by name (the CLI's --metric resolves here and
// `osor list` prints it). Each declares whether higher is better, its convention string and a version;
// results record both, and `osor compare` refuses to compare values whose convention or version differ.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
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

// A metric with one value per (prediction, reference) image pair.
class ImageMetric {
 public:
  virtual ~ImageMetric() = default;
  virtual const MetricSpec& spec() const = 0;
  virtual bool needs_mask() const = 0;
  // pred, ref: [N,3,H,W] float in [0,1] (or uint8); mask: [N,1,H,W] or undefined. Returns [N] float64.
  virtual at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const = 0;
};

// A metric with one value per pair of image sets, computed from per-image features of a FeatureExtractor
// (metrics/feature_extractor.h): FID, CMMD.
class SetMetric {
 public:
  virtual ~SetMetric() = default;
  virtual const MetricSpec& spec() const = 0;
  virtual const std::string& extractor() const = 0;      // feature extractor name
  virtual const std::string& preprocessing() const = 0;  // the extractor's preprocessing mode
  // pred [N,D], ref [M,D] float32 or float64 features of the two sets.
  virtual double evaluate(const at::Tensor& pred, const at::Tensor& ref) const = 0;
};

struct MetricEntry {
  std::string name;
  std::string summary;
  bool per_image;
  std::vector<std::string> weights = {};  // manifest ids (model/weights_manifest.h) needed with default options
};

// Every registered metric, in table order.
const std::vector<MetricEntry>& metric_entries();
bool is_image_metric(const std::string& name);

bool is_set_metric(const std::string& name);

// Throws MetricError for an unknown name, listing the known ones. Network metrics (lpips) load their
// weights from network.weights_dir and throw ModelError naming a missing file.
std::unique_ptr<ImageMetric> make_image_metric(const std::string& name, const PixelOptions& options,
                                               const NetworkOptions& network = {});
// fid | cmmd; validates the options, loads no network.
std::unique_ptr<SetMetric> make_set_metric(const std::string& name, const NetworkOptions& network = {});

// Manifest ids of the weights files a metric needs under these options (empty for pixel metrics).
std::vector<std::string> metric_weights_ids(const std::string& name, const NetworkOptions& network = {});
// One line per missing file ("missing weights file DIR/NAME needed by ...; get it from ..."); empty when the
// metric can run. `osor score`/`osor eval` report a metric with missing weights as skipped with these lines.
std::vector<std::string> missing_weights(const std::string& name, const NetworkOptions& network);

}  // namespace osor::metrics
