// Regression check of a new run against a baseline run (`osor compare`).
//
// For each (bench, mask setting, method, metric) present in both runs:
// - per-image metrics: the delta of the means over the common samples (matched by bench, method, masks
//   and id; status "ok" in both runs), with a paired bootstrap 95% confidence interval of the mean
//   delta: `resamples` resamplings of the sample indices with replacement (mt19937_64 seeded with
//   `seed`, indices by multiply-shift, so the interval is the same on every platform), percentiles
//   2.5 and 97.5 with linear interpolation (numpy's default);
// - set-level metrics (fid, cmmd: no per-sample values): the delta of the aggregate means, no interval.
// Worsening is measured in the metric's direction (higher_is_better). A tolerance is the allowed
// worsening, written as a signed change in the metric's worse direction (psnr=-0.1: a drop of up to
// 0.1 dB is fine; lpips=0.002: a rise of up to 0.002); its magnitude is what counts. A metric
// regressed when it got worse by more than its tolerance (default 0) and, for per-image metrics, the
// interval excludes zero.
//
// Methods are matched by label (`name=LABEL`, results.json "method"), or through method_map. Values of different
// conventions or versions of a metric are not comparable: compare_runs throws HarnessError naming the metric and
// both conventions; so are benchmarks whose spec version or sha256 differ, unless allow_spec_change (then a note).
// What BASE had and NEW lacks is listed in `missing`: a gate must treat it as a failure (exit 4 in `osor compare`). Infinite per-sample values (PSNR of identical
// images) pair as: inf vs inf is a delta of 0; inf vs finite is an infinite delta.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness/run_record.h"

namespace osor::harness {

struct CompareOptions {
  std::map<std::string, double> tolerance;               // metric -> allowed signed change
  std::map<std::string, std::string> method_map;         // BASE method -> NEW method, by label or id
  bool allow_spec_change = false;                        // compare benchmarks whose spec version/sha256 differ
  int resamples = 2000;
  uint64_t seed = 0;
};

enum class CompareStatus {
  Unchanged,       // delta 0
  Improved,        // better (per-image: interval excludes zero)
  NotSignificant,  // per-image: the interval includes zero
  WithinTolerance, // worse, but by no more than the tolerance
  Regressed,       // worse beyond the tolerance (and interval excludes zero)
  Undefined,       // delta not a number (e.g. +inf and -inf deltas mixed)
};

const char* status_name(CompareStatus status);

struct CompareRow {
  std::string bench, masks, method, base_method, metric;
  bool per_image = true, higher_is_better = true;
  double base = 0, next = 0, delta = 0;          // means (over the common samples for per-image metrics)
  std::optional<std::pair<double, double>> ci95;  // of the mean delta; per-image metrics only
  int n = 0;                                      // common samples (per-image metrics)
  double tolerance = 0;                           // allowed worsening (magnitude)
  CompareStatus status = CompareStatus::Unchanged;
};

struct CompareResult {
  std::vector<CompareRow> rows;
  std::vector<std::string> missing;   // what BASE had that NEW cannot be compared on: a method, a mask setting, a
                                      // metric, a set metric without a value (the gate fails closed on these)
  std::vector<std::string> warnings;  // samples NEW lacks or that failed in one run only, tolerance oddities
  std::vector<std::string> notes;     // overrides in effect (e.g. --allow-spec-change), printed with the table
  bool regressed() const;
};

CompareResult compare_runs(const RunRecord& base, const RunRecord& next, const CompareOptions& options = {});

// "psnr=-0.1,ssim=-0.002" -> {psnr: -0.1, ssim: -0.002}; HarnessError on a malformed item.
std::map<std::string, double> parse_tolerances(const std::string& text);
// "old=new,old2=new2" -> {old: new, ...} for labels without '=' and ','; or a JSON object {"old": "new"} for any.
std::map<std::string, std::string> parse_method_map(const std::string& text);

// Paired bootstrap of the mean of `deltas`: the 2.5 and 97.5 percentiles of the resampled means.
std::pair<double, double> bootstrap_mean_ci(const std::vector<double>& deltas, int resamples, uint64_t seed);

std::string format_compare_table(const CompareResult& result);
nlohmann::json to_json(const CompareResult& result);

}  // namespace osor::harness
