#include "metrics/ssim.h"

#include <ATen/Parallel.h>
#include <ATen/ATen.h>

#include <vector>

#include "metrics/error.h"
#include "metrics/pixel_inputs.h"
#include "metrics/ssim_filter.h"

namespace osor::metrics {
using at::indexing::Slice;

// The same definition as ssim_channel_cpu, as float64 tensor operations for non-CPU devices:
// symmetric padding by index gathering (torch's 'reflect' padding is whole-sample, scipy's is not),
// then two depthwise convolutions over the five moment maps. x, y: [C,H,W]. Returns the map [C,H,W].
at::Tensor ssim_map_tensor(const at::Tensor& x, const at::Tensor& y, const SsimFilter& filter) {
  const int64_t c = x.size(0), h = x.size(1), w = x.size(2), r = filter.radius();
  const int64_t size = static_cast<int64_t>(filter.taps.size());
  if (h < size || w < size)
    throw MetricError("ssim: image of " + std::to_string(h) + "x" + std::to_string(w) + " is smaller than the " +
                      std::to_string(size) + "x" + std::to_string(size) + " window");
  auto padded_index = [&](int64_t n) {
    std::vector<int64_t> idx(n + 2 * r);
    for (int64_t i = 0; i < n + 2 * r; ++i) idx[i] = reflect_index(i - r, n);
    return at::tensor(idx, at::kLong).to(x.device());
  };
  const at::Tensor rows = padded_index(h), cols = padded_index(w);
  at::Tensor moments = at::cat({x, y, x * x, y * y, x * y}, 0).unsqueeze(0);  // [1,5C,H,W]
  moments = moments.index_select(2, rows).index_select(3, cols);
  const at::Tensor taps = at::tensor(filter.taps, at::kDouble).to(x.device());
  const at::Tensor kv = taps.view({1, 1, size, 1}).expand({5 * c, 1, size, 1}).contiguous();
  const at::Tensor kh = taps.view({1, 1, 1, size}).expand({5 * c, 1, 1, size}).contiguous();
  auto depthwise = [&](const at::Tensor& input, const at::Tensor& kernel) {
    const std::vector<int64_t> one{1, 1}, zero{0, 0};
    return at::conv2d(input, kernel, at::Tensor(), one, zero, one, 5 * c);
  };
  moments = depthwise(moments, kv);
  moments = depthwise(moments, kh).squeeze(0);  // [5C,H,W]
  const auto parts = moments.split(c, 0);
  const at::Tensor &ux = parts[0], &uy = parts[1];
  const double cov = filter.covariance_scale;
  const at::Tensor vx = cov * (parts[2] - ux * ux);
  const at::Tensor vy = cov * (parts[3] - uy * uy);
  const at::Tensor vxy = cov * (parts[4] - ux * uy);
  constexpr double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
}

namespace {

// Mean SSIM of image `index` over its channels, on the CPU kernel (plane sources read the images in place).
// `mask` ([H,W] uint8) selects the region's pixels, or nullptr for skimage's crop; `box` restricts the image.
double ssim_one_cpu(const at::Tensor& ref, const at::Tensor& pred, int64_t index, Channels channels,
                    const SsimFilter& filter, const uint8_t* mask, const BoundingBox& box) {
  const int64_t c = channels == Channels::Luma ? 1 : 3;
  const int64_t h = box.bottom - box.top, w = box.right - box.left;
  std::vector<double> per_channel(c);
  at::parallel_for(0, c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      PlaneSource x = plane_source(ref, index, k, channels, box.top, box.left);
      PlaneSource y = plane_source(pred, index, k, channels, box.top, box.left);
      x.width = y.width = w;
      per_channel[k] = ssim_channel_cpu(x, y, h, w, filter, mask, nullptr);
    }
  });
  double total = 0;
  for (double v : per_channel) total += v;
  return total / static_cast<double>(c);
}

// The same on another device, with the tensor-op definition. x, y: [C,H,W] float64 0..255.
double ssim_one_tensor(const at::Tensor& x, const at::Tensor& y, const SsimFilter& filter,
                       const at::Tensor& region_mask) {
  const int64_t c = x.size(0), h = x.size(1), w = x.size(2);
  const at::Tensor map = ssim_map_tensor(x, y, filter);
  if (region_mask.defined()) {
    const at::Tensor on = region_mask.to(map.device()).to(at::kBool);
    const int64_t count = on.sum().item<int64_t>();
    if (count == 0) throw MetricError("ssim: the mask selects no pixel");
    return (map * on.to(at::kDouble)).sum().item<double>() / static_cast<double>(count * c);
  }
  const int64_t r = filter.radius();
  return map.index({Slice(), Slice(r, h - r), Slice(r, w - r)}).mean().item<double>();
}

}  // namespace

at::Tensor ssim(const at::Tensor& pred, const at::Tensor& ref, const SsimOptions& options, const at::Tensor& mask) {
  const std::string name = options.window == SsimWindow::Gaussian ? "ssim" : "ssim-uniform";
  check_pixel_inputs(name, pred, ref, options.pixels, mask);
  const SsimFilter filter = ssim_filter(options.window);
  const Channels channels = options.pixels.channels;
  const bool on_cpu = pred.is_cpu() && ref.is_cpu();
  at::Tensor x, y;  // CPU: the images as plane sources read them; else float64 8-bit values on the device
  if (on_cpu) {
    x = plane_source_storage(ref);
    y = plane_source_storage(pred);
  } else {
    x = channel_values(ref, channels);
    y = channel_values(pred, channels);
  }
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const BoundingBox whole{0, h, 0, w};
  at::Tensor result = at::empty({n}, at::kDouble);
  auto out = result.accessor<double, 1>();
  for (int64_t i = 0; i < n; ++i) {
    switch (options.pixels.region) {
      case Region::Full:
        out[i] = on_cpu ? ssim_one_cpu(x, y, i, channels, filter, nullptr, whole)
                        : ssim_one_tensor(x[i], y[i], filter, {});
        break;
      case Region::Mask: {
        const at::Tensor m = mask[i][0].gt(0.5).to(at::kByte).cpu().contiguous();
        if (m.sum().item<int64_t>() == 0) mask_bounding_box(name, m);  // throws: no object in the mask
        out[i] = on_cpu ? ssim_one_cpu(x, y, i, channels, filter, m.data_ptr<uint8_t>(), whole)
                        : ssim_one_tensor(x[i], y[i], filter, m.to(x.device()));
        break;
      }
      case Region::BBox: {
        const BoundingBox box = mask_bounding_box(name, mask[i][0].cpu());
        if (on_cpu) {
          out[i] = ssim_one_cpu(x, y, i, channels, filter, nullptr, box);
        } else {
          auto crop = [&](const at::Tensor& t) {
            return t.index({Slice(), Slice(box.top, box.bottom), Slice(box.left, box.right)}).contiguous();
          };
          out[i] = ssim_one_tensor(crop(x[i]), crop(y[i]), filter, {});
        }
        break;
      }
    }
  }
  return result;
}

at::Tensor ssim_map(const at::Tensor& pred, const at::Tensor& ref, SsimWindow window, Channels channels) {
  PixelOptions full;
  full.channels = channels;
  check_pixel_inputs("ssim", pred, ref, full, {});
  const SsimFilter filter = ssim_filter(window);
  if (!pred.is_cpu() || !ref.is_cpu()) {
    const at::Tensor x = channel_values(ref, channels);
    const at::Tensor y = channel_values(pred, channels);
    std::vector<at::Tensor> maps;
    for (int64_t i = 0; i < x.size(0); ++i) maps.push_back(ssim_map_tensor(x[i], y[i], filter));
    return at::stack(maps).cpu();
  }
  const at::Tensor x = plane_source_storage(ref), y = plane_source_storage(pred);
  const int64_t n = x.size(0), c = channels == Channels::Luma ? 1 : 3, h = x.size(2), w = x.size(3);
  at::Tensor map = at::empty({n, c, h, w}, at::kDouble);
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const PlaneSource xs = plane_source(x, k / c, k % c, channels);
      const PlaneSource ys = plane_source(y, k / c, k % c, channels);
      ssim_channel_cpu(xs, ys, h, w, filter, nullptr, map[k / c][k % c].data_ptr<double>());
    }
  });
  return map;
}

}  // namespace osor::metrics
