// LPIPS v0.1 (Zhang et al. 2018; richzhang/PerceptualSimilarity = pip lpips 0.1.4, spatial=False) as a
// per-image metric: forward(in0 = reference, in1 = prediction) on inputs u8/127.5 - 1, alex trunk (default)
// or vgg16 (metrics/networks/lpips_net.h). Weights: alexnet.safetensors + lpips_alex_v0.1.safetensors (or
// vgg16.safetensors + lpips_vgg_v0.1.safetensors) under the weights directory. Whole images only (no
// --region); images must be at least 31 px (alex) or 16 px (vgg) on each side.
// Convention string: lpips[v0.1,alex|vgg]. Lower is better. Its registry row (metrics/registry.cpp) holds the
// convention and the weights ids per trunk.
#pragma once

#include <memory>
#include <string>

#include "metrics/networks/lpips_net.h"
#include "metrics/registry.h"

namespace osor::metrics {

// The trunk --lpips-net names ("alex" | "vgg"); MetricError for another name.
LpipsTrunk lpips_trunk(const std::string& net);

// Loads the trunk and linear layers from setup.weights_files on setup.network.device.
std::unique_ptr<ImageMetric> make_lpips_metric(const MetricSetup& setup);

}  // namespace osor::metrics
