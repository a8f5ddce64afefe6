#include "harness/run_combination.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "harness/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

struct LoadedRun {
  fs::path dir;
  RunRecord record;
  json config;
};

LoadedRun load_run(const fs::path& path) {
  const fs::path file = fs::is_directory(path) ? path / "results.json" : path;
  LoadedRun run{fs::absolute(file).parent_path(), read_run_record(file), json()};
  run.config = json::parse(run.record.config_json);
  return run;
}

std::set<std::string> bench_keys(const RunRecord& run) {
  std::set<std::string> keys;
  for (const auto& b : run.benches) keys.insert(b.name + " v" + std::to_string(b.version) + " sha256 " + b.sha256);
  return keys;
}

std::set<std::string> metric_keys(const RunRecord& run) {
  std::set<std::string> keys;
  for (const auto& m : run.metrics) keys.insert(m.name + " [" + m.convention + "] v" + std::to_string(m.version));
  return keys;
}

std::set<std::string> mask_keys(const LoadedRun& run) {
  const auto masks = run.config.value("masks", std::vector<std::string>{});
  return {masks.begin(), masks.end()};
}

// "A has x, y; B has z" for the members of one set that the other lacks.
std::string set_difference_text(const std::string& a_name, const std::set<std::string>& a, const std::string& b_name,
                                const std::set<std::string>& b) {
  auto only = [](const std::set<std::string>& x, const std::set<std::string>& y) {
    std::string text;
    for (const auto& v : x)
      if (!y.count(v)) text += (text.empty() ? "" : ", ") + v;
    return text.empty() ? std::string("nothing else") : text;
  };
  return a_name + " has " + only(a, b) + "; " + b_name + " has " + only(b, a);
}

void check_combinable(const LoadedRun& first, const LoadedRun& other) {
  const std::string a = first.dir.string(), b = other.dir.string();
  const auto refuse = [&](const std::string& what, const std::set<std::string>& x, const std::set<std::string>& y) {
    if (x != y) throw HarnessError("cannot combine " + a + " and " + b + ": " + what + " differ (" +
                                   set_difference_text(a, x, b, y) + ")");
  };
  refuse("benchmark specs", bench_keys(first.record), bench_keys(other.record));
  refuse("mask settings", mask_keys(first), mask_keys(other));
  refuse("metrics or metric conventions", metric_keys(first.record), metric_keys(other.record));
}

void check_labels_unique(const std::vector<LoadedRun>& runs) {
  std::map<std::string, fs::path> owner;
  for (const auto& run : runs)
    for (const auto& m : run.record.methods) {
      const auto [it, fresh] = owner.emplace(m.label, run.dir);
      if (!fresh)
        throw HarnessError("cannot combine " + it->second.string() + " and " + run.dir.string() + ": both have a method "
                           "labelled '" + m.label + "' (evaluate one of them with name=LABEL, or compare them with "
                           "osor compare)");
    }
}

void append_run(RunRecord& combined, json& methods, json& provenance, const LoadedRun& run) {
  for (const auto& m : run.record.methods) combined.methods.push_back(m);
  for (const auto& text : run.config.value("methods", json::array())) methods.push_back(text);
  for (SampleRecord s : run.record.samples) {
    if (!s.output.empty() && fs::path(s.output).is_relative()) s.output = (run.dir / s.output).string();
    combined.samples.push_back(std::move(s));
  }
  combined.aggregates.insert(combined.aggregates.end(), run.record.aggregates.begin(), run.record.aggregates.end());
  combined.latency.insert(combined.latency.end(), run.record.latency.begin(), run.record.latency.end());
  for (const auto& skipped : run.record.skipped_metrics)
    if (std::find(combined.skipped_metrics.begin(), combined.skipped_metrics.end(), skipped) ==
        combined.skipped_metrics.end())
      combined.skipped_metrics.push_back(skipped);
  provenance.push_back({{"run_id", run.record.run_id}, {"dir", run.dir.string()}, {"created", run.record.created},
                        {"provenance", json::parse(run.record.provenance_json)}});
}

}  // namespace

RunRecord combine_runs(const std::vector<fs::path>& paths) {
  if (paths.empty()) throw HarnessError("no run to report");
  std::vector<LoadedRun> runs;
  for (const auto& path : paths) runs.push_back(load_run(path));
  for (size_t i = 1; i < runs.size(); ++i) check_combinable(runs.front(), runs[i]);
  check_labels_unique(runs);

  RunRecord combined;
  combined.run_id = "combined";
  combined.created = runs.front().record.created;
  combined.metrics = runs.front().record.metrics;
  combined.benches = runs.front().record.benches;
  combined.latency_protocol = runs.front().record.latency_protocol;
  json methods = json::array(), provenance = json::array();
  for (const auto& run : runs) append_run(combined, methods, provenance, run);
  json config = runs.front().config;
  config["methods"] = methods;
  config["combined_from"] = json::array();
  for (const auto& run : runs) config["combined_from"].push_back(run.dir.string());
  combined.config_json = config.dump();
  combined.provenance_json = json{{"combined_from", provenance}}.dump();
  return combined;
}

}  // namespace osor::harness
