#include "harness/latency/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "harness/error.h"

namespace osor::harness {

double percentile_linear(std::vector<double> values, double q) {
  if (values.empty()) throw HarnessError("percentile of no values");
  if (!(q >= 0 && q <= 100)) throw HarnessError("percentile " + std::to_string(q) + " is outside [0, 100]");
  std::sort(values.begin(), values.end());
  const double h = q / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= values.size()) return values.back();
  return values[lo] + (h - static_cast<double>(lo)) * (values[lo + 1] - values[lo]);
}

LatencyStats summarize_latency(const std::vector<double>& samples_ms) {
  if (samples_ms.empty()) throw HarnessError("latency statistics of no timed iterations");
  LatencyStats s;
  s.n = static_cast<int>(samples_ms.size());
  double sum = 0;
  for (double v : samples_ms) sum += v;
  s.mean = sum / s.n;
  double squares = 0;
  for (double v : samples_ms) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / s.n);
  s.min = *std::min_element(samples_ms.begin(), samples_ms.end());
  s.max = *std::max_element(samples_ms.begin(), samples_ms.end());
  s.median = percentile_linear(samples_ms, 50);
  s.p90 = percentile_linear(samples_ms, 90);
  s.p99 = percentile_linear(samples_ms, 99);
  return s;
}

}  // namespace osor::harness
