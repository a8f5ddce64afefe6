// LPIPS v0.1 (Zhang et al. 2018; richzhang/PerceptualSimilarity = pip lpips 0.1.4, spatial=False) as a
// per-image metric: forward(in0 = reference, in1 = prediction) on inputs u8/127.5 - 1, alex trunk (default)
// or vgg16 (metrics/networks/lpips_net.h). Weights: alexnet.safetensors + lpips_alex_v0.1.safetensors (or
// vgg16.safetensors + lpips_vgg_v0.1.safetensors) under the weights directory. Whole images only (no
// --region); images must be at least 31 px (alex) or 16 px (vgg) on each side.
// Convention string: lpips[v0.1,alex|vgg]. Lower is better.
#pragma once

#include <memory>

#include "metrics/registry.h"

namespace osor::metrics {

// Loads the trunk and linear layers from options.weights_dir (ModelError naming a missing file).
std::unique_ptr<ImageMetric> make_lpips_metric(const NetworkOptions& options);

// Manifest ids for a trunk ("alex" | "vgg"); MetricError for another name.
std::vector<std::string> lpips_weights_ids(const std::string& net);

}  // namespace osor::metrics
