#include "harness/compare.h"

#include <algorithm>
#include <map>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <tuple>

#include "harness/error.h"

namespace osor::harness {

namespace {

using GroupKey = std::tuple<std::string, std::string, std::string>;                 // bench, method, masks
using AggregateKey = std::tuple<std::string, std::string, std::string, std::string>;  // + metric

const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(sep, start), text.size());
    const std::string item = trim(text.substr(start, end - start));
    if (!item.empty()) items.push_back(item);
    start = end + 1;
  }
  return items;
}

// Linear interpolation between order statistics (numpy.percentile's default); an infinite neighbour wins.
double percentile_sorted(const std::vector<double>& sorted, double p) {
  const double pos = p * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double f = pos - static_cast<double>(lo);
  const double a = sorted[lo], b = sorted[hi];
  if (f == 0 || a == b) return a;
  if (std::isinf(a)) return a;
  if (std::isinf(b)) return b;
  return a + f * (b - a);
}

double mean_of(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? kNaN : sum / static_cast<double>(values.size());
}

// Per-sample delta: equal infinities are no change (inf - inf would be NaN).
double paired_delta(double base, double next) {
  if (std::isinf(base) && std::isinf(next) && (base > 0) == (next > 0)) return 0.0;
  return next - base;
}

std::string group_name(const std::string& bench, const std::string& method, const std::string& masks) {
  return bench + " / " + method + " / " + masks;
}

std::string format_value(double v, const char* format) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

nlohmann::json number_json(double v) { return json_value(v); }

}  // namespace

const char* status_name(CompareStatus status) {
  switch (status) {
    case CompareStatus::Unchanged: return "unchanged";
    case CompareStatus::Improved: return "improved";
    case CompareStatus::NotSignificant: return "not significant";
    case CompareStatus::WithinTolerance: return "within tolerance";
    case CompareStatus::Regressed: return "regressed";
    case CompareStatus::Undefined: return "undefined";
  }
  return "?";
}

bool CompareResult::regressed() const {
  return std::any_of(rows.begin(), rows.end(), [](const CompareRow& r) { return r.status == CompareStatus::Regressed; });
}

std::map<std::string, double> parse_tolerances(const std::string& text) {
  std::map<std::string, double> tolerances;
  for (const auto& item : split(text, ',')) {
    const size_t eq = item.find('=');
    const std::string name = eq == std::string::npos ? "" : trim(item.substr(0, eq));
    const std::string value = eq == std::string::npos ? "" : trim(item.substr(eq + 1));
    char* end = nullptr;
    errno = 0;
    const double tol = value.empty() ? kNaN : std::strtod(value.c_str(), &end);
    if (name.empty() || value.empty() || errno != 0 || *end != '\0' || !std::isfinite(tol))
      throw HarnessError("--tol: '" + item + "' is not METRIC=CHANGE (e.g. psnr=-0.1,ssim=-0.002)");
    tolerances[name] = tol;
  }
  return tolerances;
}

std::map<std::string, std::string> parse_method_map(const std::string& text) {
  std::map<std::string, std::string> map;
  const std::string trimmed = trim(text);
  if (trimmed.empty()) return map;
  if (trimmed.front() == '{') {  // JSON: any label or id, '=' and ',' included
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(trimmed);
    } catch (const nlohmann::json::exception& e) {
      throw HarnessError(std::string("--method-map: not a JSON object: ") + e.what());
    }
    for (const auto& [from, to] : j.items()) {
      if (!to.is_string() || from.empty() || to.get<std::string>().empty())
        throw HarnessError("--method-map: \"" + from + "\" must map to a non-empty string (a NEW method's label or id)");
      map[from] = to.get<std::string>();
    }
    return map;
  }
  for (const auto& item : split(trimmed, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || trim(item.substr(0, eq)).empty() || trim(item.substr(eq + 1)).empty() ||
        item.find('=', eq + 1) != std::string::npos)
      throw HarnessError("--method-map: '" + item + "' is not OLD=NEW (labels without '=' or ','; for others give a "
                         "JSON object, inline or in a file: {\"OLD\": \"NEW\"})");
    map[trim(item.substr(0, eq))] = trim(item.substr(eq + 1));
  }
  return map;
}

std::pair<double, double> bootstrap_mean_ci(const std::vector<double>& deltas, int resamples, uint64_t seed) {
  if (deltas.empty() || resamples < 1) return {kNaN, kNaN};
  std::mt19937_64 rng(seed);
  const uint64_t n = deltas.size();
  std::vector<double> means(static_cast<size_t>(resamples));
  for (auto& mean : means) {
    double sum = 0;
    // Multiply-shift maps a 64-bit draw to [0, n) the same way everywhere (std distributions differ
    // between standard libraries).
    for (uint64_t i = 0; i < n; ++i)
      sum += deltas[static_cast<size_t>((static_cast<unsigned __int128>(rng()) * n) >> 64)];
    mean = sum / static_cast<double>(n);
  }
  if (std::any_of(means.begin(), means.end(), [](double m) { return std::isnan(m); })) return {kNaN, kNaN};
  std::sort(means.begin(), means.end());
  return {percentile_sorted(means, 0.025), percentile_sorted(means, 0.975)};
}

namespace {

// Values of different conventions or versions of a metric are not comparable.
void check_conventions(const RunRecord& base, const RunRecord& next) {
  for (const auto& m : base.metrics) {
    const MetricInfo* n = next.metric(m.name);
    if (!n) continue;
    if (m.convention != n->convention)
      throw HarnessError("metric " + m.name + ": convention differs (base '" + m.convention + "', new '" +
                         n->convention + "'); values of different conventions are not comparable");
    if (m.version != n->version)
      throw HarnessError("metric " + m.name + ": version differs (base v" + std::to_string(m.version) + ", new v" +
                         std::to_string(n->version) + "); values of different versions are not comparable");
    if (m.higher_is_better != n->higher_is_better)
      throw HarnessError("metric " + m.name + ": higher_is_better differs between the runs");
  }
}

std::string short_hash(const std::string& sha256) { return sha256.empty() ? "?" : sha256.substr(0, 12); }

// A benchmark whose spec changed (another version, or the same version with other content) gives values that are
// not comparable: refused, unless the caller allows it, and then said in the report.
void check_specs(const RunRecord& base, const RunRecord& next, const CompareOptions& options, CompareResult& result) {
  for (const auto& b : base.benches) {
    const auto n = std::find_if(next.benches.begin(), next.benches.end(), [&](const BenchInfo& x) { return x.name == b.name; });
    if (n == next.benches.end()) continue;
    if (b.version == 0 || n->version == 0) {
      result.warnings.push_back("benchmark " + b.name + ": " + (b.version == 0 ? "BASE" : "NEW") +
                                " records no spec version (a run made before spec versions); not checked");
      continue;
    }
    if (b.version == n->version && b.sha256 == n->sha256) continue;
    const std::string what = "benchmark " + b.name + ": spec differs (base v" + std::to_string(b.version) + " sha256 " +
                             short_hash(b.sha256) + ", new v" + std::to_string(n->version) + " sha256 " +
                             short_hash(n->sha256) + ")";
    if (!options.allow_spec_change)
      throw HarnessError(what + "; values on different benchmark specs are not comparable (--allow-spec-change "
                                "compares them anyway, and says so in the report)");
    result.notes.push_back(what + "; compared anyway (--allow-spec-change)");
  }
}

// --method-map keys name BASE's methods and values NEW's, by label or by method id; the result maps labels.
std::map<std::string, std::string> resolve_method_map(const RunRecord& base, const RunRecord& next,
                                                      const std::map<std::string, std::string>& map) {
  auto label_of = [](const RunRecord& run, const std::string& name, const char* which) {
    for (const auto& m : run.methods)
      if (m.label == name) return m.label;
    for (const auto& m : run.methods)
      if (m.id == name) return m.label;
    for (const auto& a : run.aggregates)  // a record without a methods list (built in memory, or old)
      if (a.method == name) return a.method;
    std::string known;
    for (const auto& m : run.methods) known += (known.empty() ? "" : ", ") + m.label;
    throw HarnessError(std::string("--method-map: ") + which + " has no method '" + name + "' (its methods: " +
                       (known.empty() ? "none" : known) + ")");
  };
  std::map<std::string, std::string> labels;
  for (const auto& [from, to] : map) labels[label_of(base, from, "BASE")] = label_of(next, to, "NEW");
  return labels;
}

struct Indexed {
  std::map<AggregateKey, const Aggregate*> next_aggregates;
  std::set<GroupKey> next_groups;
  std::map<GroupKey, std::map<std::string, const SampleRecord*>> base_samples, next_samples;  // by id
};

Indexed index_runs(const RunRecord& base, const RunRecord& next) {
  Indexed ix;
  for (const auto& a : next.aggregates) {
    ix.next_aggregates[{a.bench, a.method, a.masks, a.metric}] = &a;
    ix.next_groups.insert({a.bench, a.method, a.masks});
  }
  for (const auto& s : base.samples) ix.base_samples[{s.bench, s.method, s.masks}][s.id] = &s;
  for (const auto& s : next.samples) ix.next_samples[{s.bench, s.method, s.masks}][s.id] = &s;
  return ix;
}

// Samples BASE had for a group that NEW lacks, or that failed in one run only: warnings (the deltas use the
// common successful samples).
void warn_sample_coverage(Indexed& ix, const GroupKey& base_group, const GroupKey& new_group, const std::string& name,
                          CompareResult& result) {
  int missing = 0, failed_new = 0, failed_base = 0;
  const auto& news = ix.next_samples[new_group];
  for (const auto& [id, s] : ix.base_samples[base_group]) {
    const auto it = news.find(id);
    if (it == news.end()) ++missing;
    else if (s->status == "ok" && it->second->status != "ok") ++failed_new;
    else if (s->status != "ok" && it->second->status == "ok") ++failed_base;
  }
  if (missing)
    result.warnings.push_back("NEW lacks " + std::to_string(missing) + " of the " +
                              std::to_string(ix.base_samples[base_group].size()) + " samples BASE had for " + name);
  if (failed_new)
    result.warnings.push_back(std::to_string(failed_new) + " samples of " + name +
                              " failed in NEW but not in BASE (excluded from the deltas)");
  if (failed_base)
    result.warnings.push_back(std::to_string(failed_base) + " samples of " + name +
                              " failed in BASE but not in NEW (excluded from the deltas)");
}

// The paired per-sample deltas of a metric over the common successful samples; false when there are none.
bool pair_values(Indexed& ix, const GroupKey& base_group, const GroupKey& new_group, const std::string& metric,
                 const CompareOptions& options, CompareRow& row) {
  std::vector<double> base_values, next_values, deltas;
  const auto& news = ix.next_samples[new_group];
  for (const auto& [id, s] : ix.base_samples[base_group]) {
    const auto it = news.find(id);
    if (it == news.end() || s->status != "ok" || it->second->status != "ok") continue;
    const auto bv = s->metrics.find(metric), nv = it->second->metrics.find(metric);
    if (bv == s->metrics.end() || nv == it->second->metrics.end()) continue;
    if (std::isnan(bv->second) || std::isnan(nv->second)) continue;
    base_values.push_back(bv->second);
    next_values.push_back(nv->second);
    deltas.push_back(paired_delta(bv->second, nv->second));
  }
  if (deltas.empty()) return false;
  row.n = static_cast<int>(deltas.size());
  row.base = mean_of(base_values);
  row.next = mean_of(next_values);
  row.delta = mean_of(deltas);
  row.ci95 = bootstrap_mean_ci(deltas, options.resamples, options.seed);
  return true;
}

CompareStatus verdict(const CompareRow& row) {
  const double worse = row.higher_is_better ? -row.delta : row.delta;  // > 0: got worse
  const bool significant = !row.per_image || (row.ci95 && (row.ci95->first > 0 || row.ci95->second < 0));
  if (std::isnan(row.delta) || (row.per_image && row.ci95 && std::isnan(row.ci95->first))) return CompareStatus::Undefined;
  if (row.delta == 0) return CompareStatus::Unchanged;
  if (!significant) return CompareStatus::NotSignificant;
  if (worse < 0) return CompareStatus::Improved;
  return worse > row.tolerance ? CompareStatus::Regressed : CompareStatus::WithinTolerance;
}

void check_tolerances(const RunRecord& base, const CompareOptions& options, const std::set<std::string>& compared,
                      CompareResult& result) {
  for (const auto& [metric, tol] : options.tolerance) {
    if (!compared.count(metric)) {
      result.warnings.push_back("--tol " + metric + ": no such metric compared in these runs");
      continue;
    }
    const MetricInfo* info = base.metric(metric);
    const bool higher = info ? info->higher_is_better : true;
    if ((higher && tol > 0) || (!higher && tol < 0))
      result.warnings.push_back("--tol " + metric + "=" + format_value(tol, "%g") + ": " + metric + " is " +
                                (higher ? "higher" : "lower") + "-is-better; read as an allowed " +
                                (higher ? "drop" : "rise") + " of " + format_value(std::fabs(tol), "%g"));
  }
}

}  // namespace

CompareResult compare_runs(const RunRecord& base, const RunRecord& next, const CompareOptions& options) {
  CompareResult result;
  check_conventions(base, next);
  check_specs(base, next, options, result);
  const std::map<std::string, std::string> method_map = resolve_method_map(base, next, options.method_map);
  auto mapped = [&](const std::string& method) {
    const auto it = method_map.find(method);
    return it == method_map.end() ? method : it->second;
  };
  Indexed ix = index_runs(base, next);

  std::set<GroupKey> seen_groups;
  std::set<std::string> compared_metrics;
  for (const auto& a : base.aggregates) {
    const std::string new_method = mapped(a.method);
    const GroupKey base_group{a.bench, a.method, a.masks}, new_group{a.bench, new_method, a.masks};
    const std::string name = group_name(a.bench, a.method == new_method ? a.method : a.method + "->" + new_method,
                                        a.masks);
    const bool first_of_group = seen_groups.insert(base_group).second;
    if (!ix.next_groups.count(new_group)) {
      if (first_of_group) result.missing.push_back("NEW has no results for " + name + " (BASE had them)");
      continue;
    }
    if (first_of_group) warn_sample_coverage(ix, base_group, new_group, name, result);
    const auto found = ix.next_aggregates.find({a.bench, new_method, a.masks, a.metric});
    if (found == ix.next_aggregates.end()) {
      result.missing.push_back("NEW has no " + a.metric + " for " + name + " (BASE had it)");
      continue;
    }
    const Aggregate& b = *found->second;
    if (!a.convention.empty() && !b.convention.empty() && a.convention != b.convention)
      throw HarnessError("metric " + a.metric + " (" + name + "): convention differs (base '" + a.convention +
                         "', new '" + b.convention + "'); values of different conventions are not comparable");
    const MetricInfo* info = base.metric(a.metric);
    if (!info) info = next.metric(a.metric);

    CompareRow row;
    row.bench = a.bench;
    row.masks = a.masks;
    row.method = new_method;
    row.base_method = a.method;
    row.metric = a.metric;
    row.higher_is_better = info ? info->higher_is_better : true;

    // Per-image values when either run has them; set-level (aggregate means) otherwise.
    bool has_values = false;
    for (const auto* group : {&ix.base_samples[base_group], &ix.next_samples[new_group]})
      for (const auto& [id, s] : *group)
        if (s->metrics.count(a.metric)) has_values = true;
    row.per_image = has_values && (!info || info->per_image);
    if (row.per_image) {
      if (!pair_values(ix, base_group, new_group, a.metric, options, row)) {
        result.missing.push_back("no common successful samples with " + a.metric + " values for " + name);
        continue;
      }
    } else {
      if (!a.error.empty() || !b.error.empty() || a.n == 0 || b.n == 0) {
        result.missing.push_back(a.metric + " for " + name + " has no value in " +
                                 (a.error.empty() && a.n > 0 ? "NEW" : "BASE") + " (" +
                                 (!b.error.empty() ? b.error : !a.error.empty() ? a.error : "no samples") + ")");
        continue;
      }
      row.base = a.mean;
      row.next = b.mean;
      row.delta = paired_delta(a.mean, b.mean);
      row.n = b.n;
    }
    compared_metrics.insert(a.metric);
    const auto tol = options.tolerance.find(a.metric);
    row.tolerance = tol == options.tolerance.end() ? 0.0 : std::fabs(tol->second);
    row.status = verdict(row);
    if (row.status == CompareStatus::Undefined)
      result.warnings.push_back(a.metric + " for " + name + ": the delta is not a number (mixed infinities)");
    result.rows.push_back(row);
  }
  check_tolerances(base, options, compared_metrics, result);
  return result;
}

std::string format_compare_table(const CompareResult& result) {
  std::vector<std::vector<std::string>> cells = {
      {"bench", "masks", "method", "metric", "base", "new", "delta", "95% CI", "n", "tol", "status"}};
  for (const auto& r : result.rows) {
    const std::string arrow = r.higher_is_better ? " (+)" : " (-)";
    cells.push_back({r.bench, r.masks, r.base_method == r.method ? r.method : r.base_method + "->" + r.method,
                     r.metric + arrow, format_value(r.base, "%.6g"), format_value(r.next, "%.6g"),
                     format_value(r.delta, "%+.4g"),
                     r.ci95 ? "[" + format_value(r.ci95->first, "%+.4g") + ", " +
                                  format_value(r.ci95->second, "%+.4g") + "]"
                            : std::string(r.per_image ? "" : "set-level"),
                     r.per_image ? std::to_string(r.n) : "", format_value(r.tolerance, "%g"),
                     r.status == CompareStatus::Regressed ? "REGRESSED" : status_name(r.status)});
  }
  std::vector<size_t> widths(cells[0].size(), 0);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string cell = row[c];
      // Numbers right-aligned (base .. tol), text left-aligned.
      const bool numeric = c >= 4 && c <= 9;
      const std::string pad(widths[c] - cell.size(), ' ');
      line += (numeric ? pad + cell : cell + pad) + (c + 1 < row.size() ? "  " : "");
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  const auto regressions = std::count_if(result.rows.begin(), result.rows.end(),
                                         [](const CompareRow& r) { return r.status == CompareStatus::Regressed; });
  out += "(+) higher is better, (-) lower is better; delta = new - base over the common samples.\n";
  for (const auto& note : result.notes) out += "note: " + note + "\n";
  if (regressions)
    out += std::to_string(regressions) + " of " + std::to_string(result.rows.size()) + " comparisons regressed\n";
  else
    out += "no regression in " + std::to_string(result.rows.size()) + " comparisons\n";
  return out;
}

nlohmann::json to_json(const CompareResult& result) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : result.rows) {
    nlohmann::json row = {{"bench", r.bench},
                          {"masks", r.masks},
                          {"method", r.method},
                          {"base_method", r.base_method},
                          {"metric", r.metric},
                          {"per_image", r.per_image},
                          {"higher_is_better", r.higher_is_better},
                          {"base", number_json(r.base)},
                          {"new", number_json(r.next)},
                          {"delta", number_json(r.delta)},
                          {"n", r.n},
                          {"tolerance", r.tolerance},
                          {"status", status_name(r.status)}};
    row["ci95"] = r.ci95 ? nlohmann::json::array({number_json(r.ci95->first), number_json(r.ci95->second)})
                         : nlohmann::json(nullptr);
    rows.push_back(row);
  }
  return {{"format", "osor-compare/1"}, {"regressed", result.regressed()}, {"rows", rows},
          {"missing", result.missing}, {"warnings", result.warnings}, {"notes", result.notes}};
}

}  // namespace osor::harness
