#include "metrics/ssim_filter.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "metrics/error.h"

namespace osor::metrics {
namespace {

constexpr double kC1 = (0.01 * 255) * (0.01 * 255);
constexpr double kC2 = (0.03 * 255) * (0.03 * 255);

// Vertical pass for one output row: the five filtered moments of the rows rows[0..taps).
// The tap loop is unrolled so that the column loop is the innermost one and vectorises; the
// products x*x, y*y, x*y are formed on the fly (exact: 8-bit values) instead of being stored.
template <int Taps>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void vertical_moments(const double* const* xrows, const double* const* yrows, const double* taps, int64_t w,
                      double* mx, double* my, double* mxx, double* myy, double* mxy) {
  for (int64_t j = 0; j < w; ++j) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
#pragma GCC unroll 16
    for (int k = 0; k < Taps; ++k) {
      const double a = xrows[k][j];
      const double b = yrows[k][j];
      const double t = taps[k];
      sx += t * a;
      sy += t * b;
      sxx += t * (a * a);
      syy += t * (b * b);
      sxy += t * (a * b);
    }
    mx[j] = sx;
    my[j] = sy;
    mxx[j] = sxx;
    myy[j] = syy;
    mxy[j] = sxy;
  }
}

// Horizontal pass over the five padded moment rows, then the SSIM formula, one output row.
template <int Taps>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void horizontal_ssim(const double* px, const double* py, const double* pxx, const double* pyy, const double* pxy,
                     const double* taps, double cov, int64_t w, double* out) {
  for (int64_t j = 0; j < w; ++j) {
    double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
#pragma GCC unroll 16
    for (int k = 0; k < Taps; ++k) {
      const double t = taps[k];
      ux += t * px[j + k];
      uy += t * py[j + k];
      uxx += t * pxx[j + k];
      uyy += t * pyy[j + k];
      uxy += t * pxy[j + k];
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

template <int Taps>
double ssim_channel(const double* x, const double* y, int64_t h, int64_t w, const SsimFilter& filter,
                    const uint8_t* mask, double* map_out) {
  constexpr int r = Taps / 2;
  const double* taps = filter.taps.data();
  const int64_t padded = w + 2 * r;
  // Five padded moment rows, and one row of SSIM values.
  std::vector<double> buffer(5 * padded + w);
  double* moment[5];
  for (int m = 0; m < 5; ++m) moment[m] = buffer.data() + m * padded;
  double* row = buffer.data() + 5 * padded;

  std::vector<int64_t> col_src(padded);
  for (int64_t j = 0; j < padded; ++j) col_src[j] = reflect_index(j - r, w);

  const int64_t row_begin = mask ? 0 : r, row_end = mask ? h : h - r;
  const int64_t col_begin = mask ? 0 : r, col_end = mask ? w : w - r;
  double sum = 0;
  int64_t count = 0;
  const double* xrows[Taps];
  const double* yrows[Taps];
  // With a full-map output every row is needed; otherwise only the rows of the region.
  const int64_t first = map_out ? 0 : row_begin, last = map_out ? h : row_end;
  for (int64_t i = first; i < last; ++i) {
    for (int k = 0; k < Taps; ++k) {
      const int64_t src = reflect_index(i + k - r, h);
      xrows[k] = x + src * w;
      yrows[k] = y + src * w;
    }
    vertical_moments<Taps>(xrows, yrows, taps, w, moment[0] + r, moment[1] + r, moment[2] + r, moment[3] + r,
                           moment[4] + r);
    for (int m = 0; m < 5; ++m) {
      double* p = moment[m];
      for (int64_t j = 0; j < r; ++j) {
        p[j] = p[r + col_src[j]];
        p[padded - 1 - j] = p[r + col_src[padded - 1 - j]];
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

double ssim_channel_cpu(const double* x, const double* y, int64_t h, int64_t w, const SsimFilter& filter,
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
