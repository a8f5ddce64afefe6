// CMMD (Jayasumana et al. 2024, "Rethinking FID"): the MMD (metrics/mmd.h: Gaussian RBF σ = 10, scale 1000,
// biased estimator) between the L2-normalised CLIP ViT-L/14@336 image embeddings of the two sets (the
// `clip-vit-l14-336` extractor). Preprocessing `cmmd` (default, google-research cmmd/io_util.py): centre
// square crop, PIL bicubic to 336 on 8-bit, /255, CLIP mean/std; `clip-processor`: HF CLIPImageProcessor
// (shortest edge to 336, then centre crop). Kernels in float32 as the reference, means summed in double;
// --mmd-float64 computes everything in float64. All images are used (the official code drops the last
// partial batch; cmmd-pytorch does not).
// Convention string: cmmd[clip-vit-l14-336,center-crop|shortest-edge-crop,sigma=10[,f64]]. Lower is better.
// Its registry row (metrics/registry.cpp) holds the convention, the extractor and so the preprocessing modes.
#pragma once

#include <memory>

#include "metrics/registry.h"

namespace osor::metrics {

// The registry row's factory: setup.network.mmd_float64 picks the MMD's precision; loads no network.
std::unique_ptr<SetMetric> make_cmmd_metric(const MetricSetup& setup);

}  // namespace osor::metrics
