// FID (Heusel et al. 2017) as pytorch-fid 0.3 computes it, from two sets of Inception pool3 features:
//   FID = |mu_pred - mu_ref|^2 + tr(S_pred) + tr(S_ref) - 2 tr(sqrtm(S_pred S_ref))
// with float64 means and unbiased covariances (metrics/frechet_distance.h). The features come from the
// `inception-fid` extractor (metrics/feature_extractor.h) under one of three preprocessings:
//   pytorch-fid (default): bilinear to 299 without antialias on [0,1], 2x-1
//   clean-fid: PIL bicubic (mode 'F') on 0..255, (x-128)/128
//   torchmetrics (>= 1.8): antialiased bilinear on 0..255, (x-128)/128
// Convention string: fid[<preprocessing>,<sqrtm|eigh>], e.g. fid[pytorch-fid,sqrtm]. Lower is better.
// FID has a large small-sample bias: compare methods only at equal set sizes. Its registry row
// (metrics/registry.cpp) holds the convention, the extractor and so the preprocessing modes.
#pragma once

#include <memory>

#include "metrics/registry.h"

namespace osor::metrics {

// The registry row's factory: setup.network.sqrtm picks the tr sqrtm method; loads no network.
std::unique_ptr<SetMetric> make_fid_metric(const MetricSetup& setup);
// The registry's fid under these options (make_set_metric("fid", options)): validates options.preprocessing and
// options.sqrtm (MetricError); loads no network.
std::unique_ptr<SetMetric> make_fid_metric(const NetworkOptions& options);

}  // namespace osor::metrics
