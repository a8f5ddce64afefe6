#include "harness/statistics.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace osor::harness {
namespace {

double percentile(std::vector<double>& sorted, double q) {
  // Linear interpolation between closest ranks (numpy's default).
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

Summary summarize(const std::vector<double>& values, int resamples, uint64_t seed) {
  Summary s;
  s.n = static_cast<int>(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  if (values.size() > 1) {
    double sq = 0;
    for (double v : values) sq += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(sq / static_cast<double>(values.size() - 1));
  }
  if (!std::isfinite(s.mean) || values.size() < 2 || resamples < 1) {
    s.ci95 = {s.mean, s.mean};
    return s;
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    double acc = 0;
    for (size_t i = 0; i < values.size(); ++i) acc += values[pick(rng)];
    m = acc / static_cast<double>(values.size());
  }
  std::sort(means.begin(), means.end());
  s.ci95 = {percentile(means, 0.025), percentile(means, 0.975)};
  return s;
}

Summary summarize_paired_delta(const std::vector<double>& base, const std::vector<double>& changed, int resamples,
                               uint64_t seed) {
  std::vector<double> delta(std::min(base.size(), changed.size()));
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = changed[i] - base[i];
  return summarize(delta, resamples, seed);
}

uint64_t seed_from(const std::string& text, uint64_t base_seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ base_seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace osor::harness
