#include "harness/runner.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core/version.hpp>
#include <optional>
#include <set>
#include <torch/version.h>

#include "adapters/error.h"
#include "adapters/registry.h"
#include "harness/atomic_file.h"
#include "harness/benchmark.h"
#include "harness/error.h"
#include "harness/eval_plan.h"
#include "harness/feature_cache.h"
#include "harness/latency/system_info.h"
#include "harness/pipeline.h"
#include "harness/progress.h"
#include "harness/run_folder.h"
#include "harness/run_layout.h"
#include "harness/run_timing.h"
#include "harness/sample_pass.h"
#include "harness/shard.h"
#include "harness/set_scoring.h"
#include "harness/statistics.h"
#include "metrics/registry.h"
#include "model/log.h"
#include "model/weights_manifest.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// ---- Plan: everything the command line says, checked before a file is written ----

// A new run's defaults made explicit, so that the stored configuration says exactly what ran.
EvalConfig resolved(EvalConfig config) {
  if (config.bench_dir.empty()) config.bench_dir = default_bench_dir();
  for (auto& dir : config.extra_bench_dirs) dir = fs::absolute(dir);
  for (auto& bench : config.benches)
    if (is_spec_file_name(bench)) bench = fs::absolute(bench).string();
  config.data_dir = resolve_data_dir(config.data_dir);
  config.weights_dir = model::resolve_weights_dir(config.weights_dir.string());
  return config;
}

// --resume continues the stored run; an argument given now that says otherwise is refused, naming each one.
void check_resume_arguments(const EvalConfig& stored, const EvalConfig& requested, const std::set<std::string>& given,
                            const fs::path& run_dir) {
  const json a = config_to_json(stored), b = config_to_json(resolved(requested));
  std::string differences;
  for (const auto& key : given) {
    if (!a.contains(key) || !b.contains(key) || a[key] == b[key]) continue;
    differences += (differences.empty() ? "" : "; ") + key + " was " + a[key].dump() + ", now " + b[key].dump();
  }
  if (!differences.empty())
    throw HarnessError(run_dir.string() + ": --resume with different arguments (" + differences +
                       "); drop them to continue the run as it was started, or choose another --out");
}

// ---- The run folder: claimed, locked, its configuration written or read back ----

struct OpenRun {
  fs::path dir;
  std::unique_ptr<RunLock> lock;
  EvalPlan plan;
};

OpenRun resume_run(const EvalConfig& requested, const EvalOptions& options) {
  OpenRun run;
  run.dir = requested.out_dir;
  std::error_code ec;
  if (!fs::exists(run.dir / "config.json", ec))
    throw HarnessError(run.dir.string() + ": no run to resume here (no config.json)");
  run.lock = std::make_unique<RunLock>(run.dir);
  EvalConfig stored = config_from_json(read_json_file(run.dir / "config.json"));
  stored.out_dir = run.dir;
  check_resume_arguments(stored, requested, options.given, run.dir);
  run.plan = plan_eval(stored);
  if (const size_t orphans = remove_orphaned_temporaries(run.dir))
    log::info(run.dir.string() + ": removed " + std::to_string(orphans) + " half-written temporary file(s) of the "
              "interrupted run");
  return run;
}

OpenRun start_run(const EvalConfig& requested, const EvalOptions& options) {
  OpenRun run;
  run.plan = plan_eval(resolved(requested));  // every check before the folder exists
  std::error_code ec;
  if (options.unique_out_dir) {
    run.dir = claim_unique_run_dir(requested.out_dir);
  } else {
    run.dir = requested.out_dir;
    if (fs::exists(run.dir / "config.json", ec))
      throw HarnessError(run.dir.string() + ": a run already exists here; use --resume to continue it or choose another --out");
    fs::create_directories(run.dir);
  }
  run.lock = std::make_unique<RunLock>(run.dir);
  // Checked again under the lock: another process may have started a run here since.
  if (fs::exists(run.dir / "config.json", ec))
    throw HarnessError(run.dir.string() + ": a run already exists here; use --resume to continue it or choose another --out");
  if (!is_empty_run_dir(run.dir))
    throw HarnessError(run.dir.string() + ": the folder is not empty and holds no run; choose another --out");
  run.plan.config.out_dir = run.dir;
  write_file_atomic(run.dir / "config.json", config_to_json(run.plan.config).dump(1) + "\n");
  return run;
}

// ---- Samples: every method over every benchmark (harness/sample_pass.h) ----

struct MethodRun {
  std::string label, id, folder;
};

std::vector<MethodRun> run_methods(const EvalPlan& plan, const fs::path& run_dir, int jobs, RunTiming& timing) {
  adapters::RemoverContext context;
  context.weights_dir = plan.config.weights_dir;
  context.device = plan.config.device;
  context.dtype = plan.config.dtype;
  context.seed = plan.config.seed;
  context.work_dir = run_dir / "work";
  Progress progress("osor eval", plan.total);
  std::vector<MethodRun> done;
  for (size_t m = 0; m < plan.methods.size(); ++m) {
    const MethodPlan& method = plan.methods[m];
    std::atomic<bool> first_timed_call{true};
    const auto load_start = std::chrono::steady_clock::now();
    const std::unique_ptr<adapters::Remover> remover = adapters::make_remover(method.spec, context);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    timing.add("method load", load_s);
    MethodRun run{method.label, remover->id(), method_folder_name(remover->id())};
    append_event(run_dir, {{"event", "load"}, {"method", run.label}, {"method_id", run.id}, {"load_ms", load_s * 1000.0}});
    const MethodPass pass{plan, run_dir, *remover, run.label, run.id, run.folder, m, jobs, progress, timing,
                          first_timed_call};
    for (const auto& bench : plan.benches) run_method_on_bench(pass, bench);
    done.push_back(std::move(run));
  }
  progress.finish();
  return done;
}

// ---- Sets: one value per (bench, method, masks) for each set metric, or the reason it failed ----

// One (method, mask setting) of a benchmark: its folders and its successfully scored outputs in this shard.
struct SetCell {
  CellDirs dirs;
  std::string method_folder, masks;
  std::vector<fs::path> outputs;
  std::vector<std::string> ids;  // of the outputs
  int failed = 0;
};

// Read once per benchmark, whatever the number of set metrics.
std::vector<SetCell> set_cells(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods,
                               const BenchPlan& bench) {
  std::vector<SetCell> cells;
  for (size_t m = 0; m < methods.size(); ++m)
    for (size_t k = 0; k < bench.masks.size(); ++k) {
      SetCell cell{cell_dirs(run_dir, bench.spec.name, methods[m].folder, bench.masks[k]), methods[m].folder,
                   bench.masks[k], {}, {}, 0};
      for (size_t i = 0; i < bench.samples.size(); ++i) {
        if (!plan.config.shard.owns(work_item(plan, bench, i, m, k))) continue;
        const SamplePaths paths = sample_paths(cell.dirs, bench.samples[i].id);
        const auto record = read_finished_record(paths.record);
        if (record && record->status == "ok") {
          cell.outputs.push_back(paths.output);
          cell.ids.push_back(bench.samples[i].id);
        } else {
          ++cell.failed;
        }
      }
      cells.push_back(std::move(cell));
    }
  return cells;
}

void write_set_cell(const metrics::SetMetric& metric, const metrics::FeatureExtractor& extractor, const FeatureSet& ref,
                    const FeatureCache& cache, const SetCell& cell, int jobs) {
  const std::string name = metric.spec().name;
  try {
    if (cell.outputs.empty()) throw HarnessError("no sample of this setting was removed and scored successfully");
    const FeatureSet pred = extract_features(extractor, cell.outputs, &cache, jobs);
    write_set_cell_value(cell.dirs, name, metric.evaluate(pred.features, ref.features),
                         static_cast<int>(cell.outputs.size()), cell.failed);
  } catch (const std::exception& e) {
    log::warn(cell.dirs.records.string() + ": " + name + " failed: " + error_text(e));
    write_set_cell_failure(cell.dirs, name, name + ": " + error_text(e), cell.failed + static_cast<int>(cell.outputs.size()));
  }
}

std::unique_ptr<metrics::FeatureExtractor> set_metric_extractor(const EvalPlan& plan, const metrics::SetMetric& metric) {
  metrics::NetworkOptions net = plan.network;
  net.preprocessing = metric.preprocessing();
  return metrics::make_feature_extractor(metric.extractor(), net);
}

void score_set_metric(const EvalPlan& plan, const BenchPlan& bench, const std::vector<SetCell>& cells,
                      const metrics::SetMetric& metric, const FeatureCache& cache, int jobs) {
  std::vector<const SetCell*> todo;
  for (const auto& cell : cells)
    if (!set_cell_done(cell.dirs, metric.spec().name)) todo.push_back(&cell);
  if (todo.empty()) return;
  std::unique_ptr<metrics::FeatureExtractor> extractor;
  FeatureSet ref;
  try {
    extractor = set_metric_extractor(plan, metric);
    std::vector<fs::path> gts;
    for (const auto& s : bench.samples)
      if (!s.gt.empty()) gts.push_back(s.gt);
    ref = extract_features(*extractor, gts, &cache, jobs);
  } catch (const std::exception& e) {  // no reference features: every cell of this benchmark fails
    const std::string why = metric.spec().name + ": reference features of " + bench.spec.name + ": " + error_text(e);
    log::warn(why);
    for (const SetCell* cell : todo)
      write_set_cell_failure(cell->dirs, metric.spec().name, why, cell->failed + static_cast<int>(cell->outputs.size()));
    return;
  }
  for (const SetCell* cell : todo) write_set_cell(metric, *extractor, ref, cache, *cell, jobs);
}

void score_sets(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods, int jobs) {
  if (plan.metrics.set.empty()) return;
  const FeatureCache cache(FeatureCache::resolve_dir(plan.config.cache_dir.string()));
  for (const auto& bench : plan.benches) {
    const std::vector<SetCell> cells = set_cells(plan, run_dir, methods, bench);
    for (const auto& metric : plan.metrics.set) score_set_metric(plan, bench, cells, *metric, cache, jobs);
  }
}

// ---- A shard's sets: the features `osor merge` computes the set metrics from ----

// The ground truths of the samples this shard has work of, rows named by sample id.
FeatureSet shard_reference_features(const EvalPlan& plan, const BenchPlan& bench,
                                    const metrics::FeatureExtractor& extractor, const FeatureCache& cache, int jobs) {
  std::vector<fs::path> gts;
  std::vector<std::string> ids;
  const size_t per_sample = plan.methods.size() * bench.masks.size();
  for (size_t i = 0; i < bench.samples.size(); ++i) {
    bool owned = false;
    for (size_t j = 0; j < per_sample && !owned; ++j)
      owned = plan.config.shard.owns(bench.first_item + static_cast<int64_t>(i * per_sample + j));
    if (!owned || bench.samples[i].gt.empty()) continue;
    gts.push_back(bench.samples[i].gt);
    ids.push_back(bench.samples[i].id);
  }
  FeatureSet set = extract_features(extractor, gts, &cache, jobs);
  set.names = ids;
  return set;
}

// Features of one extractor for every cell of one benchmark; a failure leaves its file out (the merge names it).
void write_bench_shard_features(const EvalPlan& plan, const fs::path& run_dir, const BenchPlan& bench,
                                const std::vector<SetCell>& cells, const metrics::FeatureExtractor& extractor,
                                const std::string& key, const FeatureCache& cache, int jobs) {
  try {
    write_feature_file(shard_reference_features_file(run_dir, bench.spec.name, key),
                       shard_reference_features(plan, bench, extractor, cache, jobs));
  } catch (const std::exception& e) {
    log::warn(bench.spec.name + ": reference features (" + key + ") failed: " + error_text(e));
  }
  for (const SetCell& cell : cells) {
    if (cell.outputs.empty()) continue;
    try {
      FeatureSet set = extract_features(extractor, cell.outputs, &cache, jobs);
      set.names = cell.ids;
      const fs::path file = shard_features_file(run_dir, bench.spec.name, cell.method_folder, cell.masks, key);
      fs::create_directories(file.parent_path());
      write_feature_file(file, set);
    } catch (const std::exception& e) {
      log::warn(cell.dirs.records.string() + ": features (" + key + ") failed: " + error_text(e));
    }
  }
}

void write_shard_features(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods, int jobs) {
  if (plan.metrics.set.empty()) return;
  const FeatureCache cache(FeatureCache::resolve_dir(plan.config.cache_dir.string()));
  std::set<std::string> written;
  for (const auto& metric : plan.metrics.set) {
    const std::string key = features_key(metric->extractor(), metric->preprocessing());
    if (!written.insert(key).second) continue;
    std::unique_ptr<metrics::FeatureExtractor> extractor;
    try {
      extractor = set_metric_extractor(plan, *metric);
    } catch (const std::exception& e) {
      log::warn(metric->spec().name + ": feature extractor failed: " + error_text(e));
      continue;
    }
    for (const auto& bench : plan.benches) {
      fs::create_directories(run_dir / "features" / bench.spec.name);
      write_bench_shard_features(plan, run_dir, bench, set_cells(plan, run_dir, methods, bench), *extractor, key, cache,
                                 jobs);
    }
  }
}

// ---- Write: what the run was, for the assembly and every report ----

json provenance(const EvalConfig& config) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return {{"git_revision", OSOR_GIT_REVISION},
          {"osor_version", OSOR_VERSION},
          {"libtorch", TORCH_VERSION},
          {"opencv", CV_VERSION},
          {"compiler", __VERSION__},
          {"host", host},
          {"device", config.device},
          {"device_name", device_label(at::Device(config.device))},
          {"dtype", config.dtype}};
}

void write_run_meta(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods,
                    const json& timing) {
  json meta = {{"run_id", run_dir.filename().string()}, {"created", now_iso8601()}, {"provenance", provenance(plan.config)}};
  json metric_infos = json::array();
  for (const auto& m : plan.metrics.infos)
    metric_infos.push_back({{"name", m.name}, {"convention", m.convention}, {"version", m.version},
                            {"higher_is_better", m.higher_is_better}, {"per_image", m.per_image}});
  json skipped = json::array();
  for (const auto& [metric, reason] : plan.metrics.skipped) skipped.push_back({{"metric", metric}, {"reason", reason}});
  json method_infos = json::array();
  for (const auto& m : methods) method_infos.push_back({{"label", m.label}, {"id", m.id}});
  json bench_infos = json::array();
  for (const auto& b : plan.benches)
    bench_infos.push_back({{"name", b.spec.name}, {"version", b.spec.version}, {"sha256", b.spec.sha256}});
  meta["metrics"] = metric_infos;
  meta["skipped_metrics"] = skipped;
  meta["methods"] = method_infos;
  meta["benches"] = bench_infos;
  meta["timing"] = timing;  // this invocation's (a resumed run's covers what it did)
  write_file_atomic(run_dir / "run_meta.json", meta.dump(1) + "\n");
}

}  // namespace

json config_to_json(const EvalConfig& c) {
  json extra_dirs = json::array();
  for (const auto& dir : c.extra_bench_dirs) extra_dirs.push_back(dir.string());
  json j = {{"benches", c.benches},
          {"methods", c.methods},
          {"metrics", c.metrics},
          {"masks", c.masks},
          {"channels", metrics::to_string(c.pixels.channels)},
          {"region", metrics::to_string(c.pixels.region)},
          {"data_dir", c.data_dir.string()},
          {"bench_dir", c.bench_dir.string()},
          {"extra_bench_dirs", extra_dirs},
          {"weights_dir", c.weights_dir.string()},
          {"cache_dir", c.cache_dir.string()},
          {"device", c.device},
          {"dtype", c.dtype},
          {"cfd_mode", c.cfd_mode},
          {"seed", c.seed},
          {"bootstrap_resamples", c.bootstrap_resamples},
          {"limit", c.limit},
          {"fail_fast", c.fail_fast},
          {"shard", c.shard.text()}};
  return j;
}

EvalConfig config_from_json(const json& j) {
  EvalConfig c;
  try {
    c.benches = j.at("benches").get<std::vector<std::string>>();
    c.methods = j.at("methods").get<std::vector<std::string>>();
    c.metrics = j.at("metrics").get<std::vector<std::string>>();
    c.masks = j.at("masks").get<std::vector<std::string>>();
    c.pixels.channels = metrics::parse_channels(j.value("channels", "rgb"));
    c.pixels.region = metrics::parse_region(j.value("region", "full"));
    c.data_dir = j.value("data_dir", "");
    c.bench_dir = j.value("bench_dir", "");
    for (const auto& dir : j.value("extra_bench_dirs", json::array())) c.extra_bench_dirs.push_back(dir.get<std::string>());
    c.weights_dir = j.value("weights_dir", "");
    c.cache_dir = j.value("cache_dir", "");
    c.device = j.value("device", "cpu");
    c.dtype = j.value("dtype", "fp32");
    c.cfd_mode = j.value("cfd_mode", "official");
    c.seed = j.value("seed", 0ull);
    c.bootstrap_resamples = j.value("bootstrap_resamples", 1000);
    c.limit = j.value("limit", 0);
    c.fail_fast = j.value("fail_fast", false);
    if (j.contains("shard")) c.shard = parse_shard(j.at("shard").get<std::string>());
  } catch (const json::exception& e) {
    throw HarnessError(std::string("config.json: ") + e.what());
  }
  return c;
}

EvalResult run_eval(const EvalConfig& requested, const EvalOptions& options) {
  if (requested.out_dir.empty()) throw HarnessError("osor eval: no output folder (--out)");
  OpenRun run = options.resume ? resume_run(requested, options) : start_run(requested, options);
  for (const auto& [metric, reason] : run.plan.metrics.skipped) log::warn("metric " + metric + " skipped: " + reason);
  RunTiming timing;
  const int jobs = resolve_jobs(options.jobs);
  const std::vector<MethodRun> methods = run_methods(run.plan, run.dir, jobs, timing);
  {
    StageStopwatch sets(timing, "set metrics");
    if (run.plan.config.shard.whole()) score_sets(run.plan, run.dir, methods, jobs);
    else write_shard_features(run.plan, run.dir, methods, jobs);
  }
  write_run_meta(run.plan, run.dir, methods, timing.to_json(jobs, run.plan.total));
  if (options.progress && log::level() != log::Level::Quiet)
    std::fprintf(stderr, "osor eval: time per stage: %s\n", timing.summary(jobs).c_str());
  return {assemble_run(run.dir), run.dir};
}

std::vector<WorkItem> work_items(const EvalConfig& config) {
  const std::vector<MethodPlan> methods = plan_methods(config.methods);
  std::vector<WorkItem> items;
  for (const BenchPlan& bench : plan_benches(config))
    for (const auto& sample : bench.samples)
      for (size_t m = 0; m < methods.size(); ++m)
        for (const std::string& masks : bench.masks)
          items.push_back({static_cast<int64_t>(items.size()), bench.spec.name, sample.id, masks, m, !sample.gt.empty()});
  return items;
}

RunFailures count_failures(const RunRecord& run) {
  RunFailures failures;
  for (const auto& s : run.samples) failures.samples += s.status == "ok" ? 0 : 1;
  for (const auto& a : run.aggregates) failures.set_cells += a.error.empty() ? 0 : 1;
  return failures;
}

}  // namespace osor::harness
