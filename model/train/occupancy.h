// Occupancy targets of OSOR's multi-scale patch discriminator (spec §5.5, "occupancy-guided"): the object mask
// brought down to each head's logit grid. OSOR uses area pooling (F.interpolate(mask, (h, w), mode='area') =
// adaptive_avg_pool2d: cell (i, j) averages mask[floor(i·H/h) : ceil((i+1)·H/h), ...], bins overlap when H % h != 0);
// the ablation's alternatives are the hard mask (HM: nearest, or "any pixel" max pooling) and soft masks (SM:
// Gaussian blur at pixel or cell scale, scipy.ndimage.gaussian_filter conventions).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace osor::model::train {

enum class OccupancyMethod {
  Area,               // adaptive_avg_pool2d (OSOR's)
  Max,                // adaptive_max_pool2d: any masked pixel in the bin
  Nearest,            // F.interpolate 'nearest': src = min(floor(dst · float32(in)/float32(out)), in − 1)
  NearestExact,       // 'nearest-exact': src = min(floor((dst + 0.5) · in/out), in − 1)
  Bilinear,           // 'bilinear', align_corners=False, no antialias
  GaussPixelsThenArea,  // Gaussian blur at full resolution (zeros outside), then area pooling
  AreaThenGaussCells,   // area pooling, then Gaussian blur on the grid (edge replication)
};

struct OccupancyOptions {
  OccupancyMethod method = OccupancyMethod::Area;
  double sigma_px = 2.0, truncate_px = 4.0;      // GaussPixelsThenArea (scipy: radius = int(truncate·σ + 0.5))
  double sigma_cell = 1.0, truncate_cell = 2.0;  // AreaThenGaussCells
};

// The fixture / config names: area_adaptive_avg_pool2d, area_interpolate (both Area), max_adaptive_max_pool2d,
// nearest, nearest_exact, bilinear_align_corners_false, gauss_px_then_area, area_then_gauss_cell. Throws
// ModelError for another name (listing the known ones).
OccupancyMethod parse_occupancy_method(const std::string& name);

// mask [B,1,H,W] (values in [0,1]) → targets [B,h,w] in the mask's dtype.
at::Tensor occupancy_target(const at::Tensor& mask, int64_t h, int64_t w, const OccupancyOptions& options = {});

}  // namespace osor::model::train
