#include "metrics/psnr.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "metrics/pixel_inputs.h"

namespace osor::metrics {

at::Tensor psnr(const at::Tensor& pred, const at::Tensor& ref, const PixelOptions& options, const at::Tensor& mask) {
  using at::indexing::Slice;
  check_pixel_inputs("psnr", pred, ref, options, mask);
  const at::Tensor x = channel_values(ref, options.channels);
  const at::Tensor y = channel_values(pred, options.channels);
  const int64_t n = x.size(0), channels = x.size(1);
  at::Tensor result = at::empty({n}, at::kDouble);
  auto out = result.accessor<double, 1>();
  for (int64_t i = 0; i < n; ++i) {
    at::Tensor sq = (x[i] - y[i]).square_();  // [C,H,W]
    double sse = 0, count = 0;
    if (options.region == Region::Full) {
      sse = sq.sum().item<double>();
      count = static_cast<double>(sq.numel());
    } else {
      const at::Tensor m = mask[i][0].to(x.device());
      if (options.region == Region::Mask) {
        const at::Tensor on = m.gt(0.5);
        count = static_cast<double>(on.sum().item<int64_t>()) * static_cast<double>(channels);
        if (count == 0) mask_bounding_box("psnr", m.cpu());  // throws: no object in the mask
        sse = (sq * on.to(at::kDouble)).sum().item<double>();
      } else {
        const BoundingBox box = mask_bounding_box("psnr", m.cpu());
        const at::Tensor crop = sq.index({Slice(), Slice(box.top, box.bottom), Slice(box.left, box.right)});
        sse = crop.sum().item<double>();
        count = static_cast<double>(crop.numel());
      }
    }
    const double mse = sse / count;
    out[i] = mse == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 / mse);
  }
  return result;
}

}  // namespace osor::metrics
