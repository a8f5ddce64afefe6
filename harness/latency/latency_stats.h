// Summary statistics of latency samples (milliseconds), with the definitions stated so that numbers from other
// tools can be compared with them:
//   mean, min, max   as usual;
//   median, p90, p99 percentiles by linear interpolation between closest ranks, numpy.percentile's default
//                    (method "linear", Hyndman & Fan type 7): for sorted x[0..n-1] and q in [0, 100],
//                    h = q/100·(n−1), percentile = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]);
//   std              the POPULATION standard deviation (divide by n; numpy.std's default ddof=0); 0 for n = 1.
#pragma once

#include <vector>

namespace osor::harness {

struct LatencyStats {
  int n = 0;
  double mean = 0, median = 0, p90 = 0, p99 = 0, min = 0, max = 0, std = 0;
};

// q in [0, 100] of the values (any order); HarnessError when empty or q is out of range.
double percentile_linear(std::vector<double> values, double q);

// HarnessError when `samples_ms` is empty.
LatencyStats summarize_latency(const std::vector<double>& samples_ms);

}  // namespace osor::harness
