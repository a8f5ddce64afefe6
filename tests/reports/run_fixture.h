// A constructed run record (results.json, "osor-run/1") for the report tests: two benches, three
// methods, per-image metrics with a tie at the displayed precision, a lower-is-better metric, a
// set-level metric, an infinite PSNR, a failed sample, a metric missing for one row, an extra metric
// (ssim-uniform) and a skipped one (cmmd). Names carry LaTeX/CSV/HTML special characters.
// fail_samples() and fail_set_metric() turn it into a run with failed groups.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace osor::test {

inline const std::vector<std::string>& fixture_methods() {
  static const std::vector<std::string> methods = {"identity", "opencv-telea:radius=3,eps=1", "osor_v1&b%"};
  return methods;
}

inline const std::vector<std::string>& fixture_benches() {
  static const std::vector<std::string> benches = {"alpha", "beta_set"};
  return benches;
}

inline const std::vector<std::string>& fixture_ids() {
  static const std::vector<std::string> ids = {"s01", "s02", "s03"};
  return ids;
}

// Aggregate means per bench, masks, metric: one value per method (identity, telea, osor); a string
// "inf" is infinity, null is "not computed" (no aggregate written).
inline nlohmann::json fixture_means() {
  using nlohmann::json;
  return json::parse(R"({
    "alpha": {
      "object": {"psnr": [20.0, 25.004, 25.001], "ssim": [0.5, 0.9, 0.8], "lpips": [0.5, 0.1, 0.2],
                 "fid": [50.0, 10.0, 10.0], "ssim-uniform": [0.4, 0.7, 0.6]},
      "effect": {"psnr": [19.0, 24.0, 26.0], "ssim": [0.45, 0.85, 0.88], "lpips": [0.55, 0.15, 0.12],
                 "fid": [55.0, 12.0, 11.0], "ssim-uniform": [0.35, 0.65, 0.66]}
    },
    "beta_set": {
      "object": {"psnr": [20.0, 30.0, "inf"], "ssim": [0.6, 0.95, 1.0], "lpips": [0.4, 0.05, 0.0],
                 "fid": [40.0, 8.0, 2.0], "ssim-uniform": [0.5, 0.9, 1.0]},
      "effect": {"psnr": [18.0, 28.0, 29.0], "ssim": [0.55, 0.9, 0.93], "lpips": [0.45, 0.08, null],
                 "fid": [45.0, 9.0, 7.0], "ssim-uniform": [0.45, 0.85, 0.9]}
    }
  })");
}

inline nlohmann::json fixture_results() {
  using nlohmann::json;
  json metrics = json::array({
      {{"name", "psnr"}, {"convention", "psnr[skimage-0.19,rgb,full]"}, {"version", 1}, {"higher_is_better", true},
       {"per_image", true}},
      {{"name", "ssim"}, {"convention", "ssim[gaussian,skimage-0.19]"}, {"version", 1}, {"higher_is_better", true},
       {"per_image", true}},
      {{"name", "lpips"}, {"convention", "lpips[v0.1,alex]"}, {"version", 1}, {"higher_is_better", false},
       {"per_image", true}},
      {{"name", "fid"}, {"convention", "fid[pytorch-fid,sqrtm]"}, {"version", 1}, {"higher_is_better", false},
       {"per_image", false}},
      {{"name", "ssim-uniform"}, {"convention", "ssim[uniform7]"}, {"version", 1}, {"higher_is_better", true},
       {"per_image", true}},
  });
  const json means = fixture_means();
  json aggregates = json::array(), samples = json::array(), latency = json::array();
  for (const auto& bench : fixture_benches())
    for (const std::string masks : {"object", "effect"})
      for (size_t m = 0; m < fixture_methods().size(); ++m) {
        const std::string& method = fixture_methods()[m];
        // osor fails one sample on alpha/object.
        const bool one_failed = bench == "alpha" && masks == "object" && m == 2;
        for (const auto& [metric, values] : means[bench][masks].items()) {
          if (values[m].is_null()) continue;
          const bool set_level = metric == "fid";
          json a = {{"bench", bench}, {"method", method}, {"masks", masks}, {"metric", metric},
                    {"convention", ""}, {"mean", values[m]}, {"std", set_level ? json(0.0) : json(0.01)},
                    {"n", one_failed ? 2 : 3}, {"n_failed", one_failed ? 1 : 0}};
          a["ci95"] = set_level ? json(nullptr) : json::array({values[m], values[m]});
          aggregates.push_back(a);
        }
        latency.push_back({{"bench", bench}, {"method", method}, {"masks", masks},
                           {"median_ms", 1.5 + 100.0 * m}, {"mean_ms", 2.0 + 100.0 * m}, {"n", 3}});
        for (size_t i = 0; i < fixture_ids().size(); ++i) {
          const std::string& id = fixture_ids()[i];
          const bool failed = one_failed && i == 1;
          json sample_metrics = json::object();
          if (!failed)
            for (const auto& [metric, values] : means[bench][masks].items())
              if (metric != "fid" && !values[m].is_null()) {
                // Per-sample values spread around the mean so that sorting has something to do.
                if (values[m].is_string()) sample_metrics[metric] = values[m];
                else sample_metrics[metric] = values[m].get<double>() + 0.01 * (static_cast<double>(i) - 1.0);
              }
          json s = {{"bench", bench}, {"method", method}, {"masks", masks}, {"id", id},
                    {"status", failed ? "failed" : "ok"}, {"output", "outputs/" + bench + "/" + std::to_string(m) +
                                                                         "/" + masks + "/" + id + ".png"},
                    {"latency_ms", 1.5 + 100.0 * m}, {"metrics", sample_metrics}};
          s["error"] = failed ? json("command exited with status 3: out of memory <oom>") : json(nullptr);
          samples.push_back(s);
        }
      }
  return {{"format", "osor-run/1"},
          {"run_id", "fixture-run"},
          {"created", "2026-11-28T22:00:00Z"},
          {"config", {{"benches", fixture_benches()}, {"methods", fixture_methods()}, {"metrics",
                       json::array({"psnr", "ssim", "lpips", "fid", "ssim-uniform", "cmmd"})},
                      {"masks", json::array({"object", "effect"})}}},
          {"provenance", json::object()},
          {"metrics", metrics},
          {"latency_protocol", "wall clock around one remove() call per sample, model load excluded; median"},
          {"samples", samples},
          {"aggregates", aggregates},
          {"latency", latency},
          {"skipped_metrics", json::array({{{"metric", "cmmd"},
                                            {"reason", "weights file clip-vit-l14-336.safetensors missing (50%_of_it)"}}})}};
}

// Fails the first `count` samples still ok (in id order) of one (bench, method, masks) group as the
// runner records a failure: status "failed", the error, no metric values (the call's latency stays in
// the record). The group's aggregates follow as the runner computes them: n = samples left, n_failed =
// all failed ones; with none left, a per-image aggregate holds mean 0, std 0 and no ci95 (summarize()
// of no values) and a set-level one a NaN value, and the group has no latency entry.
inline void fail_samples(nlohmann::json& results, const std::string& bench, const std::string& method,
                         const std::string& masks, int count, const std::string& error) {
  using nlohmann::json;
  const auto in_group = [&](const json& j) {
    return j.value("bench", std::string()) == bench && j.value("method", std::string()) == method &&
           j.value("masks", std::string()) == masks;
  };
  int total = 0, failed = 0;
  for (auto& s : results["samples"]) {
    if (!in_group(s)) continue;
    ++total;
    if (s.value("status", std::string()) == "ok" && count > 0) {
      s["status"] = "failed";
      s["error"] = error;
      s["metrics"] = json::object();
      --count;
    }
    if (s.value("status", std::string()) == "failed") ++failed;
  }
  const int scored = total - failed;
  for (auto& a : results["aggregates"]) {
    if (!in_group(a)) continue;
    a["n"] = scored;
    a["n_failed"] = failed;
    if (scored > 0) continue;
    bool per_image = true;
    for (const auto& m : results["metrics"])
      if (m.value("name", std::string()) == a.value("metric", std::string())) per_image = m.value("per_image", true);
    a["mean"] = per_image ? json(0.0) : json("nan");
    a["std"] = 0.0;
    a["ci95"] = nullptr;
  }
  json latency = json::array();
  for (auto& l : results["latency"]) {
    if (in_group(l) && scored == 0) continue;
    if (in_group(l)) l["n"] = scored;
    latency.push_back(l);
  }
  results["latency"] = latency;
}

// A set-level metric that failed on its own for one group, as the runner records it: no scored sample
// (n = 0, n_failed = every sample of the group), the reason in "error", and `mean` ("nan", or 0 as an
// older writer left it).
inline void fail_set_metric(nlohmann::json& results, const std::string& bench, const std::string& method,
                            const std::string& masks, const std::string& metric, const nlohmann::json& mean) {
  for (auto& a : results["aggregates"])
    if (a.value("bench", std::string()) == bench && a.value("method", std::string()) == method &&
        a.value("masks", std::string()) == masks && a.value("metric", std::string()) == metric) {
      a["n_failed"] = a.value("n", 0) + a.value("n_failed", 0);
      a["n"] = 0;
      a["mean"] = mean;
      a["error"] = "feature extraction failed: no output image";
    }
}

}  // namespace osor::test
