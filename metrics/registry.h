// The metric registry: every metric is found here by name (the CLI's --metric resolves here and
// `osor list` prints it). Each declares whether higher is better, its convention string and a version;
// results record both, and `osor compare` refuses to compare values whose convention or version differ.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

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

struct MetricEntry {
  std::string name;
  std::string summary;
  bool per_image;
};

// Every registered metric, in table order.
const std::vector<MetricEntry>& metric_entries();
bool is_image_metric(const std::string& name);

// Throws MetricError for an unknown name, listing the known ones.
std::unique_ptr<ImageMetric> make_image_metric(const std::string& name, const PixelOptions& options);

}  // namespace osor::metrics
