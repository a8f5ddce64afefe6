#include "metrics/resize.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "metrics/error.h"

namespace osor::metrics {

namespace {

// Pillow libImaging/Resample.c, written from its published algorithm: the filters, the coefficient table
// (bounds, normalisation to sum 1), the 8-bit fixed-point conversion and the two passes.
constexpr int kPrecisionBits = 22;  // Pillow's PRECISION_BITS (32 - 8 - 2)

double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;  // Pillow's choice; PyTorch's bicubic uses -0.75
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  // Truncated sinc, a = 3.
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3.0);
  return 0.0;
}

struct Coefficients {
  int ksize = 0;
  std::vector<int> xmin, count;  // per output position: first input index and number of taps
  std::vector<double> k;         // out_size × ksize, normalised
};

// One axis: output size `out`, input size `in`, the whole input (Pillow's box (0, in)).
Coefficients precompute(int in, int out, PilFilter filter) {
  double (*fn)(double) = nullptr;
  double support = 0;
  switch (filter) {
    case PilFilter::Bilinear: fn = bilinear_filter; support = 1.0; break;
    case PilFilter::Bicubic: fn = bicubic_filter; support = 2.0; break;
    case PilFilter::Lanczos: fn = lanczos_filter; support = 3.0; break;
  }
  // Pillow computes (in1 - in0) in float before widening; for a whole-image box that is exact.
  const double scale = static_cast<double>(static_cast<float>(in)) / out;
  const double filterscale = scale < 1.0 ? 1.0 : scale;  // > 1 widens the kernel: the antialias
  support *= filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out);
  c.count.resize(out);
  c.k.assign(static_cast<size_t>(out) * c.ksize, 0.0);
  for (int xx = 0; xx < out; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation toward zero, as Pillow's (int) cast
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

std::vector<int32_t> fixed_point(const Coefficients& c) {
  std::vector<int32_t> out(c.k.size());
  for (size_t i = 0; i < c.k.size(); ++i) {
    const double v = c.k[i] * (1 << kPrecisionBits);
    out[i] = static_cast<int32_t>(c.k[i] < 0 ? v - 0.5 : v + 0.5);
  }
  return out;
}

inline uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// [P,H,W] planes of T (contiguous CPU) → [P,out_h,out_w]. Pillow skips a pass whose size is unchanged.
template <typename T, typename Horizontal, typename Vertical>
void resample_planes(const T* src, T* dst, int64_t planes, int h, int w, int oh, int ow, PilFilter filter,
                     Horizontal&& horizontal, Vertical&& vertical) {
  const bool need_h = ow != w, need_v = oh != h;
  const Coefficients ch = precompute(w, ow, filter);
  const Coefficients cv = precompute(h, oh, filter);
  // Only the rows the vertical pass reads are resampled horizontally (as Pillow does; it changes nothing).
  const int row_first = need_v ? cv.xmin[0] : 0;
  const int row_last = need_v ? cv.xmin[oh - 1] + cv.count[oh - 1] : h;
  const int rows = row_last - row_first;
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> temp;
    for (int64_t p = begin; p < end; ++p) {
      const T* in = src + p * h * w;
      T* out = dst + p * oh * ow;
      if (!need_h && !need_v) {
        std::copy(in, in + h * w, out);
        continue;
      }
      const T* rows_in = in;
      int row_offset = 0;
      if (need_h) {
        temp.resize(static_cast<size_t>(rows) * ow);
        for (int y = 0; y < rows; ++y) horizontal(in + static_cast<int64_t>(y + row_first) * w, temp.data() + static_cast<int64_t>(y) * ow, ch, ow);
        rows_in = temp.data();
        row_offset = row_first;
      }
      const int rw = need_h ? ow : w;
      if (need_v)
        vertical(rows_in, out, cv, oh, rw, row_offset);
      else
        std::copy(rows_in, rows_in + static_cast<int64_t>(oh) * rw, out);
    }
  });
}

std::vector<int64_t> out_sizes(const at::Tensor& images, int64_t out_h, int64_t out_w) {
  std::vector<int64_t> s = images.sizes().vec();
  s[s.size() - 2] = out_h;
  s[s.size() - 1] = out_w;
  return s;
}

void check_input(const at::Tensor& images, int64_t out_h, int64_t out_w, const char* what) {
  if (images.dim() != 3 && images.dim() != 4)
    throw MetricError(std::string(what) + ": expected [N,C,H,W] or [C,H,W], got " + std::to_string(images.dim()) + " dimensions");
  if (out_h <= 0 || out_w <= 0 || images.size(-1) <= 0 || images.size(-2) <= 0)
    throw MetricError(std::string(what) + ": sizes must be positive");
}

}  // namespace

at::Tensor pil_resize_u8(const at::Tensor& images, int64_t out_h, int64_t out_w, PilFilter filter) {
  check_input(images, out_h, out_w, "pil_resize_u8");
  if (images.scalar_type() != at::kByte) throw MetricError("pil_resize_u8: expected a uint8 tensor");
  const at::Tensor src = images.to(at::kCPU).contiguous();
  const int h = static_cast<int>(src.size(-2)), w = static_cast<int>(src.size(-1));
  const int64_t planes = src.numel() / (static_cast<int64_t>(h) * w);
  at::Tensor dst = at::empty(out_sizes(src, out_h, out_w), src.options());
  const Coefficients ch = precompute(w, static_cast<int>(out_w), filter);
  const Coefficients cv = precompute(h, static_cast<int>(out_h), filter);
  const std::vector<int32_t> kh = fixed_point(ch), kv = fixed_point(cv);
  auto horizontal = [&](const uint8_t* in, uint8_t* out, const Coefficients& c, int ow) {
    for (int xx = 0; xx < ow; ++xx) {
      const int32_t* k = &kh[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* px = in + c.xmin[xx];
      int64_t ss = int64_t(1) << (kPrecisionBits - 1);
      for (int x = 0; x < c.count[xx]; ++x) ss += static_cast<int64_t>(px[x]) * k[x];
      out[xx] = clip8(ss);
    }
  };
  auto vertical = [&](const uint8_t* in, uint8_t* out, const Coefficients& c, int oh, int rw, int row_offset) {
    std::vector<int64_t> acc(rw);
    for (int yy = 0; yy < oh; ++yy) {
      const int32_t* k = &kv[static_cast<size_t>(yy) * c.ksize];
      std::fill(acc.begin(), acc.end(), int64_t(1) << (kPrecisionBits - 1));
      for (int y = 0; y < c.count[yy]; ++y) {
        const uint8_t* row = in + static_cast<int64_t>(c.xmin[yy] + y - row_offset) * rw;
        const int64_t ky = k[y];
        for (int x = 0; x < rw; ++x) acc[x] += row[x] * ky;
      }
      for (int x = 0; x < rw; ++x) out[static_cast<int64_t>(yy) * rw + x] = clip8(acc[x]);
    }
  };
  resample_planes<uint8_t>(src.data_ptr<uint8_t>(), dst.data_ptr<uint8_t>(), planes, h, w, static_cast<int>(out_h),
                           static_cast<int>(out_w), filter, horizontal, vertical);
  return dst;
}

namespace {

// Pillow's ImagingScaleAffine table: xo = a0/2 (box origin 0), then xo += a0 per output pixel; COORD truncates.
std::vector<int64_t> nearest_sources(int64_t in, int64_t out) {
  const double step = static_cast<double>(in) / static_cast<double>(out);
  std::vector<int64_t> src(static_cast<size_t>(out));
  double xo = step * 0.5;
  for (int64_t x = 0; x < out; ++x) {
    src[static_cast<size_t>(x)] = std::min<int64_t>(static_cast<int64_t>(xo), in - 1);
    xo += step;
  }
  return src;
}

}  // namespace

at::Tensor pil_resize_nearest_u8(const at::Tensor& images, int64_t out_h, int64_t out_w) {
  check_input(images, out_h, out_w, "pil_resize_nearest_u8");
  if (images.scalar_type() != at::kByte && images.scalar_type() != at::kBool)
    throw MetricError("pil_resize_nearest_u8: expected a uint8 or bool tensor");
  const at::Tensor src = images.to(at::kCPU);
  if (src.size(-2) == out_h && src.size(-1) == out_w) return src.clone();
  const std::vector<int64_t> rows = nearest_sources(src.size(-2), out_h), cols = nearest_sources(src.size(-1), out_w);
  const at::Tensor r = at::tensor(rows, at::kLong), c = at::tensor(cols, at::kLong);
  return src.index_select(-2, r).index_select(-1, c).contiguous();
}

at::Tensor pil_resize_float(const at::Tensor& images, int64_t out_h, int64_t out_w, PilFilter filter) {
  check_input(images, out_h, out_w, "pil_resize_float");
  const at::Tensor src = images.to(at::kCPU, at::kFloat).contiguous();
  const int h = static_cast<int>(src.size(-2)), w = static_cast<int>(src.size(-1));
  const int64_t planes = src.numel() / (static_cast<int64_t>(h) * w);
  at::Tensor dst = at::empty(out_sizes(src, out_h, out_w), src.options());
  // Mode 'F': double accumulation with double coefficients, each pass stored as float32.
  auto horizontal = [&](const float* in, float* out, const Coefficients& c, int ow) {
    for (int xx = 0; xx < ow; ++xx) {
      const double* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      const float* px = in + c.xmin[xx];
      double ss = 0.0;
      for (int x = 0; x < c.count[xx]; ++x) ss += px[x] * k[x];
      out[xx] = static_cast<float>(ss);
    }
  };
  auto vertical = [&](const float* in, float* out, const Coefficients& c, int oh, int rw, int row_offset) {
    std::vector<double> acc(rw);
    for (int yy = 0; yy < oh; ++yy) {
      const double* k = &c.k[static_cast<size_t>(yy) * c.ksize];
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int y = 0; y < c.count[yy]; ++y) {
        const float* row = in + static_cast<int64_t>(c.xmin[yy] + y - row_offset) * rw;
        for (int x = 0; x < rw; ++x) acc[x] += row[x] * k[y];
      }
      for (int x = 0; x < rw; ++x) out[static_cast<int64_t>(yy) * rw + x] = static_cast<float>(acc[x]);
    }
  };
  resample_planes<float>(src.data_ptr<float>(), dst.data_ptr<float>(), planes, h, w, static_cast<int>(out_h),
                         static_cast<int>(out_w), filter, horizontal, vertical);
  return dst;
}

at::Tensor torch_bilinear_resize(const at::Tensor& images, int64_t out_h, int64_t out_w, bool antialias) {
  check_input(images, out_h, out_w, "torch_bilinear_resize");
  if (images.dim() != 4) throw MetricError("torch_bilinear_resize: expected [N,C,H,W]");
  if (images.size(2) == out_h && images.size(3) == out_w) return images;
  // F.interpolate(size=...) passes no scale factors, so ATen derives in/out itself (in float32 for float32
  // inputs, which is what the reference fixtures record).
  if (antialias) return at::_upsample_bilinear2d_aa(images, {out_h, out_w}, false, c10::nullopt, c10::nullopt);
  return at::upsample_bilinear2d(images, {out_h, out_w}, false, c10::nullopt, c10::nullopt);
}

}  // namespace osor::metrics
