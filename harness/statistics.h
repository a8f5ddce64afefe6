// Summary statistics of per-sample metric values: mean, sample standard deviation and a percentile
// bootstrap confidence interval, deterministic for a given seed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace osor::harness {

struct Summary {
  double mean = 0, std = 0;  // std with n-1 (0 for n < 2)
  std::pair<double, double> ci95{0, 0};
  int n = 0;
};

// Percentile bootstrap of the mean (resamples of the values with replacement; 2.5 and 97.5 percentiles).
Summary summarize(const std::vector<double>& values, int resamples, uint64_t seed);

// Paired bootstrap of the mean difference new - base over the same samples.
Summary summarize_paired_delta(const std::vector<double>& base, const std::vector<double>& changed, int resamples,
                               uint64_t seed);

// A stable 64-bit seed from text (FNV-1a), so each (bench, method, metric) has its own bootstrap stream.
uint64_t seed_from(const std::string& text, uint64_t base_seed);

}  // namespace osor::harness
