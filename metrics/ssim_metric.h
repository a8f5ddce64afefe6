// The `ssim` and `ssim-uniform` metrics of the registry (metrics/registry.cpp): ssim() of metrics/ssim.h per image
// pair with the row's window, under --channels and --region.
#pragma once

#include <memory>

#include "metrics/registry.h"
#include "metrics/ssim.h"

namespace osor::metrics {

std::unique_ptr<ImageMetric> make_ssim_metric(const MetricSetup& setup, SsimWindow window);

}  // namespace osor::metrics
