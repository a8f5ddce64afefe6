#include "metrics/psnr.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "metrics/pixel_inputs.h"
#include "metrics/plane_source.h"

namespace osor::metrics {
namespace {

// Σ (a − b)² over a row (where m is set, when given), in eight interleaved partial sums so that it vectorises.
// For 8-bit values every term and partial sum is an exact integer, so the order does not change the result.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
double row_squared_error(const double* __restrict a, const double* __restrict b, const uint8_t* __restrict m,
                         int64_t w) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= w; j += 8)
    for (int l = 0; l < 8; ++l) {
      const double d = a[j + l] - b[j + l];
      lane[l] += (m == nullptr || m[j + l]) ? d * d : 0.0;
    }
  double total = 0;
  for (; j < w; ++j) {
    const double d = a[j] - b[j];
    total += (m == nullptr || m[j]) ? d * d : 0.0;
  }
  for (double v : lane) total += v;
  return total;
}

// Sum of squared differences and the number of values of image `index`, on the CPU: rows are read through
// plane sources (no whole-image float64 copies). `mask` ([H,W] uint8) selects pixels, `box` the rows/columns.
std::pair<double, double> squared_error_cpu(const at::Tensor& ref, const at::Tensor& pred, int64_t index,
                                            Channels channels, const uint8_t* mask, const BoundingBox& box) {
  const int64_t c = channels == Channels::Luma ? 1 : 3, w = box.right - box.left, full_w = ref.size(3);
  std::vector<double> a(w), b(w);
  double sse = 0, count = 0;
  for (int64_t k = 0; k < c; ++k) {
    PlaneSource x = plane_source(ref, index, k, channels, box.top, box.left);
    PlaneSource y = plane_source(pred, index, k, channels, box.top, box.left);
    x.width = y.width = w;
    for (int64_t i = 0; i < box.bottom - box.top; ++i) {
      x.read_row(i, a.data());
      y.read_row(i, b.data());
      const uint8_t* m = mask ? mask + (box.top + i) * full_w + box.left : nullptr;
      sse += row_squared_error(a.data(), b.data(), m, w);
      if (m) {
        for (int64_t j = 0; j < w; ++j) count += m[j] ? 1.0 : 0.0;
      } else {
        count += static_cast<double>(w);
      }
    }
  }
  return {sse, count};
}

}  // namespace

at::Tensor psnr(const at::Tensor& pred, const at::Tensor& ref, const PixelOptions& options, const at::Tensor& mask) {
  using at::indexing::Slice;
  check_pixel_inputs("psnr", pred, ref, options, mask);
  at::Tensor result = at::empty({pred.size(0)}, at::kDouble);
  auto out = result.accessor<double, 1>();
  auto psnr_of = [](double sse, double count) {
    const double mse = sse / count;
    return mse == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 / mse);
  };
  if (pred.is_cpu() && ref.is_cpu()) {
    const at::Tensor x = plane_source_storage(ref), y = plane_source_storage(pred);
    const BoundingBox whole{0, x.size(2), 0, x.size(3)};
    for (int64_t i = 0; i < x.size(0); ++i) {
      std::pair<double, double> e;
      if (options.region == Region::Full) {
        e = squared_error_cpu(x, y, i, options.channels, nullptr, whole);
      } else if (options.region == Region::Mask) {
        const at::Tensor m = mask[i][0].gt(0.5).to(at::kByte).cpu().contiguous();
        e = squared_error_cpu(x, y, i, options.channels, m.data_ptr<uint8_t>(), whole);
        if (e.second == 0) mask_bounding_box("psnr", m);  // throws: no object in the mask
      } else {
        e = squared_error_cpu(x, y, i, options.channels, nullptr, mask_bounding_box("psnr", mask[i][0].cpu()));
      }
      out[i] = psnr_of(e.first, e.second);
    }
    return result;
  }
  // Other devices: the same definition as tensor operations on float64 8-bit values.
  const at::Tensor x = channel_values(ref, options.channels);
  const at::Tensor y = channel_values(pred, options.channels);
  const int64_t n = x.size(0), channels = x.size(1);
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
    out[i] = psnr_of(sse, count);
  }
  return result;
}

}  // namespace osor::metrics
