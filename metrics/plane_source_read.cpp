// PlaneSource::read_row: the row conversion kernels. Compiled without the precompiled header and with
// -ffp-contract=off (GCC contracts by default even in ISO C++ mode: the ·255 and the luma sum must round
// product by product, as the tensor operations of eight_bit_values and luma_bt601 do) and -fno-trapping-math
// (lets the clamps vectorise; no result changes). See metrics/CMakeLists.txt.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "metrics/plane_source.h"

namespace osor::metrics {
namespace {

// eight_bit_values for one value: float64 clamp to [0,1], ·255, round half to even (torch.round). Adding and
// subtracting 2^52 rounds a value in [0, 2^51) to the nearest integer, ties to even, in the default rounding
// mode: exactly nearbyint, but it vectorises. NaN stays NaN through every step, as in torch.clamp/round.
inline double eight_bit(double v) {
  constexpr double kRound = 4503599627370496.0;  // 2^52
  v = v < 0.0 ? 0.0 : v;
  v = v > 1.0 ? 1.0 : v;
  return (v * 255.0 + kRound) - kRound;
}

template <typename T>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void read_values(const T* __restrict src, int64_t n, double* __restrict out) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    for (int64_t j = 0; j < n; ++j) out[j] = src[j];
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = eight_bit(static_cast<double>(src[j]));
  }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void luma_bt601_row(const double* __restrict r, const double* __restrict g, const double* __restrict b, int64_t n,
                    double* __restrict out) {
  for (int64_t j = 0; j < n; ++j) {
    const double rg = r[j] * 0.299 + g[j] * 0.587;
    out[j] = rg + b[j] * 0.114;
  }
}

template <typename T>
void read_row_as(const PlaneSource& s, int64_t row, double* out) {
  const int64_t offset = row * s.row_stride;
  if (!s.luma) {
    read_values(static_cast<const T*>(s.planes[0]) + offset, s.width, out);
    return;
  }
  thread_local std::vector<double> rgb;
  rgb.resize(static_cast<size_t>(3 * s.width));
  for (int c = 0; c < 3; ++c) read_values(static_cast<const T*>(s.planes[c]) + offset, s.width, rgb.data() + c * s.width);
  luma_bt601_row(rgb.data(), rgb.data() + s.width, rgb.data() + 2 * s.width, s.width, out);
}

}  // namespace

void PlaneSource::read_row(int64_t row, double* out) const {
  switch (type) {
    case Type::U8: return read_row_as<uint8_t>(*this, row, out);
    case Type::F32: return read_row_as<float>(*this, row, out);
    case Type::F64: return read_row_as<double>(*this, row, out);
  }
}


}  // namespace osor::metrics
