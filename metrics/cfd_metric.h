// The CFD row's metric (metrics/cfd.h has the definition): reference-free, it scores a prediction with its object
// mask; SAM ViT-H's automatic mask generator with CFD's settings (segment-anything defaults) and DINOv2-giant with
// its slow BitImageProcessor. Mode from NetworkOptions::cfd_mode ("official", the default, or "corrected").
// Weights (model/weights_manifest): sam-vit-h, dinov2-giant-config, dinov2-giant-preprocessor, dinov2-giant. A
// sidecar `<sam weights stem>.json` with the _build_sam arguments (SamConfig::from_json_text) replaces ViT-H's
// sizes when present — how tests run the metric on the tiny fixture networks.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metrics/registry.h"

namespace osor::metrics {

std::unique_ptr<ImageMetric> make_cfd_metric(const MetricSetup& setup);

// The convention string of the row: "cfd[<mode>,sam-vit-h-amg-default,dinov2-giant,hf-4.57-slow-processor]".
std::string cfd_convention(const MetricSetup& setup);

}  // namespace osor::metrics
