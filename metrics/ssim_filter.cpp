#include "metrics/ssim_filter.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "metrics/error.h"

namespace osor::metrics {
namespace {

constexpr double kC1 = (0.01 * 255) * (0.01 * 255);
constexpr double kC2 = (0.03 * 255) * (0.03 * 255);

// The five moment rows of one input row: x, y, x², y², xy (products exact: 8-bit values, or luma values whose
// squares round once, as scikit-image's x*x does).
struct MomentRows {
  double* m[5];
};

// Vertical pass for one output row and one moment: out[j] = Σ_k taps[k]·rows[k][j]. Taps are symmetric
// (Gaussian and uniform windows), so mirrored rows are added first: Taps/2 additions and Taps/2+1 multiply-adds
// per value instead of Taps multiply-adds.
template <int Taps>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void vertical_moment(const double* const* rows, const double* taps, int64_t w, double* out) {
  constexpr int r = Taps / 2;
  double t[Taps];
  const double* row[Taps];
  for (int k = 0; k < Taps; ++k) t[k] = taps[k], row[k] = rows[k];
  // The rows and `out` never overlap (separate ring slots): no loop-carried dependence.
#pragma GCC ivdep
  for (int64_t j = 0; j < w; ++j) {
    double s = t[r] * row[r][j];
#pragma GCC unroll 8
    for (int k = 0; k < r; ++k) s += t[k] * (row[k][j] + row[Taps - 1 - k][j]);
    out[j] = s;
  }
}

// Horizontal pass over the five padded moment rows, then the SSIM formula, one output row.
template <int Taps>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void horizontal_ssim(const double* px, const double* py, const double* pxx, const double* pyy, const double* pxy,
                     const double* taps, double cov, int64_t w, double* out) {
  constexpr int r = Taps / 2;
  // `out` is a separate buffer from the moment rows: no loop-carried dependence.
#pragma GCC ivdep
  for (int64_t j = 0; j < w; ++j) {
    const double tr = taps[r];
    double ux = tr * px[j + r], uy = tr * py[j + r], uxx = tr * pxx[j + r], uyy = tr * pyy[j + r],
           uxy = tr * pxy[j + r];
#pragma GCC unroll 8
    for (int k = 0; k < r; ++k) {
      const double t = taps[k];
      const int64_t a = j + k, b = j + Taps - 1 - k;
      ux += t * (px[a] + px[b]);
      uy += t * (py[a] + py[b]);
      uxx += t * (pxx[a] + pxx[b]);
      uyy += t * (pyy[a] + pyy[b]);
      uxy += t * (pxy[a] + pxy[b]);
    }
    const double vx = cov * (uxx - ux * ux);
    const double vy = cov * (uyy - uy * uy);
    const double vxy = cov * (uxy - ux * uy);
    const double a1 = 2 * ux * uy + kC1;
    const double a2 = 2 * vxy + kC2;
    const double b1 = ux * ux + uy * uy + kC1;
    const double b2 = vx + vy + kC2;
    out[j] = (a1 * a2) / (b1 * b2);
  }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void products(const double* __restrict x, const double* __restrict y, int64_t w, double* __restrict xx,
              double* __restrict yy, double* __restrict xy) {
  for (int64_t j = 0; j < w; ++j) {
    xx[j] = x[j] * x[j];
    yy[j] = y[j] * y[j];
    xy[j] = x[j] * y[j];
  }
}

// Streams the image once: each input row is read (converted to float64 by its PlaneSource) and its products
// formed when it enters a ring of Taps rows, so the working set is Taps·5 rows (L2-resident at 1024²) instead
// of whole-image float64 copies.
template <int Taps>
double ssim_channel(const PlaneSource& x, const PlaneSource& y, int64_t h, int64_t w, const SsimFilter& filter,
                    const uint8_t* mask, double* map_out) {
  constexpr int r = Taps / 2;
  const double* taps = filter.taps.data();
  for (int k = 0; k < r; ++k)
    if (taps[k] != taps[Taps - 1 - k]) throw MetricError("ssim: the window must be symmetric");
  const int64_t padded = w + 2 * r;
  // Row strides padded by 8 doubles (64 bytes) past a multiple of 4 KiB, so that the rows of the ring do not all
  // map to the same L1 sets.
  const int64_t stride = (w + 7) / 8 * 8 + 8, moment_stride = (padded + 7) / 8 * 8 + 8;
  std::vector<double> buffer(static_cast<size_t>(Taps * 5 * stride + 5 * moment_stride + w));
  double* ring = buffer.data();
  double* moment[5];
  for (int m = 0; m < 5; ++m) moment[m] = ring + Taps * 5 * stride + m * moment_stride;
  double* row = ring + Taps * 5 * stride + 5 * moment_stride;
  auto slot = [&](int64_t position) {  // position in the reflected row sequence, i - r .. i + r
    const int64_t k = ((position % Taps) + Taps) % Taps;
    MomentRows rows;
    for (int m = 0; m < 5; ++m) rows.m[m] = ring + (k * 5 + m) * stride;
    return rows;
  };
  auto load = [&](int64_t position) {
    const MomentRows rows = slot(position);
    const int64_t src = reflect_index(position, h);
    x.read_row(src, rows.m[0]);
    y.read_row(src, rows.m[1]);
    products(rows.m[0], rows.m[1], w, rows.m[2], rows.m[3], rows.m[4]);
  };

  std::vector<int64_t> col_src(padded);
  for (int64_t j = 0; j < padded; ++j) col_src[j] = reflect_index(j - r, w);

  const int64_t row_begin = mask ? 0 : r, row_end = mask ? h : h - r;
  const int64_t col_begin = mask ? 0 : r, col_end = mask ? w : w - r;
  double sum = 0;
  int64_t count = 0;
  // With a full-map output every row is needed; otherwise only the rows of the region.
  const int64_t first = map_out ? 0 : row_begin, last = map_out ? h : row_end;
  for (int64_t p = first - r; p < first + r; ++p) load(p);
  const double* window[Taps];
  for (int64_t i = first; i < last; ++i) {
    load(i + r);
    for (int m = 0; m < 5; ++m) {
      for (int k = 0; k < Taps; ++k) window[k] = slot(i - r + k).m[m];
      vertical_moment<Taps>(window, taps, w, moment[m] + r);
      double* q = moment[m];
      for (int64_t j = 0; j < r; ++j) {
        q[j] = q[r + col_src[j]];
        q[padded - 1 - j] = q[r + col_src[padded - 1 - j]];
      }
    }
    horizontal_ssim<Taps>(moment[0], moment[1], moment[2], moment[3], moment[4], taps, filter.covariance_scale, w,
                          row);
    if (map_out) std::copy(row, row + w, map_out + i * w);
    if (i < row_begin || i >= row_end) continue;
    if (mask) {
      const uint8_t* mrow = mask + i * w;
      for (int64_t j = 0; j < w; ++j) {
        if (mrow[j]) {
          sum += row[j];
          ++count;
        }
      }
    } else {
      for (int64_t j = col_begin; j < col_end; ++j) sum += row[j];
      count += col_end - col_begin;
    }
  }
  if (count == 0) throw MetricError(mask ? "ssim: the mask selects no pixel" : "ssim: the image is too small");
  return sum / static_cast<double>(count);
}

}  // namespace

SsimFilter ssim_filter(SsimWindow window) {
  SsimFilter filter;
  if (window == SsimWindow::Gaussian) {
    // scipy gaussian_filter(sigma=1.5, truncate=3.5): radius int(3.5*1.5 + 0.5) = 5, normalised taps.
    const double sigma = 1.5;
    const int radius = static_cast<int>(3.5 * sigma + 0.5);
    double total = 0;
    for (int k = -radius; k <= radius; ++k) {
      filter.taps.push_back(std::exp(-0.5 * k * k / (sigma * sigma)));
      total += filter.taps.back();
    }
    for (double& t : filter.taps) t /= total;
    filter.covariance_scale = 1.0;
  } else {
    // scipy uniform_filter(size=7); skimage's use_sample_covariance=True scales by NP/(NP-1), NP = 49.
    filter.taps.assign(7, 1.0 / 7.0);
    filter.covariance_scale = 49.0 / 48.0;
  }
  return filter;
}

int64_t reflect_index(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

double ssim_channel_cpu(const PlaneSource& x, const PlaneSource& y, int64_t h, int64_t w, const SsimFilter& filter,
                        const uint8_t* mask, double* map_out) {
  const int64_t size = static_cast<int64_t>(filter.taps.size());
  if (h < size || w < size) {
    std::ostringstream msg;
    msg << "ssim: image of " << h << "x" << w << " is smaller than the " << size << "x" << size << " window";
    throw MetricError(msg.str());
  }
  switch (size) {
    case 11: return ssim_channel<11>(x, y, h, w, filter, mask, map_out);
    case 7: return ssim_channel<7>(x, y, h, w, filter, mask, map_out);
    default: throw MetricError("ssim: unsupported window size " + std::to_string(size));
  }
}

}  // namespace osor::metrics
