#include "metrics/pixel_inputs.h"

#include <ATen/ATen.h>

#include <sstream>

#include "metrics/eight_bit.h"
#include "metrics/error.h"

namespace osor::metrics {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

}  // namespace

void check_pixel_inputs(const std::string& metric, const at::Tensor& pred, const at::Tensor& ref,
                        const PixelOptions& options, const at::Tensor& mask) {
  if (!pred.defined() || !ref.defined()) throw MetricError(metric + ": missing prediction or reference image");
  if (pred.dim() != 4 || pred.size(1) != 3)
    throw MetricError(metric + ": prediction must be [N,3,H,W], got " + shape_of(pred));
  if (pred.sizes() != ref.sizes())
    throw MetricError(metric + ": prediction " + shape_of(pred) + " and reference " + shape_of(ref) +
                      " differ in size");
  if (options.region == Region::Full) return;
  if (!mask.defined()) throw MetricError(metric + ": region '" + to_string(options.region) + "' needs a mask");
  if (mask.dim() != 4 || mask.size(0) != pred.size(0) || mask.size(1) != 1 || mask.size(2) != pred.size(2) ||
      mask.size(3) != pred.size(3))
    throw MetricError(metric + ": mask " + shape_of(mask) + " does not match images " + shape_of(pred));
}

BoundingBox mask_bounding_box(const std::string& metric, const at::Tensor& mask_hw) {
  const at::Tensor on = mask_hw.gt(0.5);
  const at::Tensor rows = on.any(1).nonzero();
  const at::Tensor cols = on.any(0).nonzero();
  if (rows.numel() == 0) throw MetricError(metric + ": the mask selects no pixel (no object in the mask)");
  BoundingBox box;
  box.top = rows.min().item<int64_t>();
  box.bottom = rows.max().item<int64_t>() + 1;
  box.left = cols.min().item<int64_t>();
  box.right = cols.max().item<int64_t>() + 1;
  return box;
}

at::Tensor channel_values(const at::Tensor& images, Channels channels) {
  at::Tensor values = eight_bit_values(images);
  if (channels == Channels::Luma) values = luma_bt601(values);
  return values.contiguous();
}

}  // namespace osor::metrics
