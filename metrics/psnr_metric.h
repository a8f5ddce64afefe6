// The `psnr` metric of the registry (metrics/registry.cpp): psnr() of metrics/psnr.h per image pair, under the
// row's --channels and --region.
#pragma once

#include <memory>

#include "metrics/registry.h"

namespace osor::metrics {

std::unique_ptr<ImageMetric> make_psnr_metric(const MetricSetup& setup);

}  // namespace osor::metrics
