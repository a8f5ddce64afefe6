#include "harness/run_record.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/error.h"

namespace osor::harness {

using nlohmann::json;

json json_value(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

double value_from_json(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  if (j.is_null()) return std::numeric_limits<double>::quiet_NaN();
  throw HarnessError("expected a number, got " + j.dump());
}

const MetricInfo* RunRecord::metric(const std::string& name) const {
  for (const auto& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

json to_json(const SampleRecord& s) {
  json metrics = json::object();
  for (const auto& [name, value] : s.metrics) metrics[name] = json_value(value);
  json j = {{"bench", s.bench}, {"method", s.method}, {"masks", s.masks}, {"id", s.id}, {"status", s.status},
            {"output", s.output}, {"latency_ms", json_value(s.latency_ms)}, {"metrics", metrics}};
  j["error"] = s.error.empty() ? json(nullptr) : json(s.error);
  j["input"] = s.input;
  j["gt"] = s.gt;
  j["mask"] = s.mask;
  j["mask_polarity"] = s.mask_polarity;
  if (s.latency_warmup) j["latency_warmup"] = true;
  if (!s.method_id.empty()) j["method_id"] = s.method_id;
  if (!s.metric_terms.empty()) {
    json terms = json::object();
    for (const auto& [metric, parts] : s.metric_terms)
      for (const auto& [name, value] : parts) terms[metric][name] = json_value(value);
    j["metric_terms"] = terms;
  }
  return j;
}

SampleRecord sample_from_json(const json& j) {
  SampleRecord s;
  s.bench = j.at("bench").get<std::string>();
  s.method = j.at("method").get<std::string>();
  s.method_id = j.value("method_id", s.method);
  s.masks = j.at("masks").get<std::string>();
  s.id = j.at("id").get<std::string>();
  s.status = j.value("status", "ok");
  if (j.contains("error") && j["error"].is_string()) s.error = j["error"].get<std::string>();
  s.output = j.value("output", "");
  s.input = j.value("input", "");
  s.gt = j.value("gt", "");
  s.mask = j.value("mask", "");
  s.mask_polarity = j.value("mask_polarity", "white");
  if (j.contains("latency_ms")) s.latency_ms = value_from_json(j["latency_ms"]);
  s.latency_warmup = j.value("latency_warmup", false);
  if (j.contains("metrics"))
    for (const auto& [name, value] : j["metrics"].items()) s.metrics[name] = value_from_json(value);
  if (j.contains("metric_terms"))
    for (const auto& [metric, parts] : j["metric_terms"].items())
      for (const auto& [name, value] : parts.items()) s.metric_terms[metric][name] = value_from_json(value);
  return s;
}

json to_json(const RunRecord& run) {
  json metrics = json::array();
  for (const auto& m : run.metrics)
    metrics.push_back({{"name", m.name}, {"convention", m.convention}, {"version", m.version},
                       {"higher_is_better", m.higher_is_better}, {"per_image", m.per_image}});
  json samples = json::array();
  for (const auto& s : run.samples) samples.push_back(to_json(s));
  json aggregates = json::array();
  for (const auto& a : run.aggregates) {
    json item = {{"bench", a.bench}, {"method", a.method}, {"masks", a.masks}, {"metric", a.metric},
                 {"convention", a.convention}, {"mean", json_value(a.mean)}, {"std", json_value(a.std)},
                 {"n", a.n}, {"n_failed", a.n_failed}};
    item["ci95"] = a.ci95 ? json::array({json_value(a.ci95->first), json_value(a.ci95->second)}) : json(nullptr);
    if (!a.error.empty()) item["error"] = a.error;
    aggregates.push_back(item);
  }
  json latency = json::array();
  for (const auto& l : run.latency)
    latency.push_back({{"bench", l.bench}, {"method", l.method}, {"masks", l.masks},
                       {"median_ms", json_value(l.median_ms)}, {"mean_ms", json_value(l.mean_ms)}, {"n", l.n},
                       {"n_warmup", l.n_warmup}});
  json skipped = json::array();
  for (const auto& [metric, reason] : run.skipped_metrics) skipped.push_back({{"metric", metric}, {"reason", reason}});
  json methods = json::array();
  for (const auto& m : run.methods) methods.push_back({{"label", m.label}, {"id", m.id}});
  json benches = json::array();
  for (const auto& b : run.benches) benches.push_back({{"name", b.name}, {"version", b.version}, {"sha256", b.sha256}});
  return {{"format", kRunFormat},
          {"run_id", run.run_id},
          {"created", run.created},
          {"config", json::parse(run.config_json)},
          {"provenance", json::parse(run.provenance_json)},
          {"metrics", metrics},
          {"methods", methods},
          {"benches", benches},
          {"latency_protocol", run.latency_protocol},
          {"samples", samples},
          {"aggregates", aggregates},
          {"latency", latency},
          {"skipped_metrics", skipped}};
}

RunRecord run_from_json(const json& j) {
  if (j.value("format", "") != kRunFormat)
    throw HarnessError("not an OSOR run record (format is '" + j.value("format", "") + "', expected '" +
                       kRunFormat + "')");
  RunRecord run;
  run.run_id = j.value("run_id", "");
  run.created = j.value("created", "");
  run.config_json = j.value("config", json::object()).dump();
  run.provenance_json = j.value("provenance", json::object()).dump();
  run.latency_protocol = j.value("latency_protocol", "");
  for (const auto& m : j.value("metrics", json::array()))
    run.metrics.push_back({m.at("name").get<std::string>(), m.value("convention", ""), m.value("version", 1),
                           m.value("higher_is_better", true), m.value("per_image", true)});
  for (const auto& s : j.value("samples", json::array())) run.samples.push_back(sample_from_json(s));
  for (const auto& a : j.at("aggregates")) {
    Aggregate agg;
    agg.bench = a.at("bench").get<std::string>();
    agg.method = a.at("method").get<std::string>();
    agg.masks = a.at("masks").get<std::string>();
    agg.metric = a.at("metric").get<std::string>();
    agg.convention = a.value("convention", "");
    agg.mean = value_from_json(a.at("mean"));
    agg.std = a.contains("std") ? value_from_json(a["std"]) : 0.0;
    if (a.contains("ci95") && a["ci95"].is_array() && a["ci95"].size() == 2)
      agg.ci95 = std::make_pair(value_from_json(a["ci95"][0]), value_from_json(a["ci95"][1]));
    agg.n = a.value("n", 0);
    agg.n_failed = a.value("n_failed", 0);
    if (a.contains("error") && a["error"].is_string()) agg.error = a["error"].get<std::string>();
    run.aggregates.push_back(agg);
  }
  for (const auto& l : j.value("latency", json::array()))
    run.latency.push_back({l.at("bench").get<std::string>(), l.at("method").get<std::string>(),
                           l.at("masks").get<std::string>(), value_from_json(l.at("median_ms")),
                           value_from_json(l.value("mean_ms", json(0.0))), l.value("n", 0), l.value("n_warmup", 0)});
  for (const auto& s : j.value("skipped_metrics", json::array()))
    run.skipped_metrics.emplace_back(s.value("metric", ""), s.value("reason", ""));
  for (const auto& m : j.value("methods", json::array()))
    run.methods.push_back({m.at("label").get<std::string>(), m.value("id", m.at("label").get<std::string>())});
  if (run.methods.empty())  // a run made before labels: its method ids are its labels
    for (const auto& s : run.samples)
      if (std::none_of(run.methods.begin(), run.methods.end(), [&](const MethodInfo& m) { return m.label == s.method; }))
        run.methods.push_back({s.method, s.method_id});
  for (const auto& b : j.value("benches", json::array()))
    run.benches.push_back({b.at("name").get<std::string>(), b.value("version", 0), b.value("sha256", "")});
  return run;
}

RunRecord read_run_record(const std::filesystem::path& path) {
  const std::filesystem::path file = std::filesystem::is_directory(path) ? path / "results.json" : path;
  const auto bytes = read_file_bytes(file);
  try {
    return run_from_json(json::parse(bytes.begin(), bytes.end()));
  } catch (const json::exception& e) {
    throw HarnessError(file.string() + ": invalid run record: " + e.what());
  } catch (const HarnessError& e) {
    throw HarnessError(file.string() + ": " + e.what());
  }
}

void write_run_record(const std::filesystem::path& file, const RunRecord& run) {
  write_file_atomic(file, to_json(run).dump(1) + "\n");
}

}  // namespace osor::harness
