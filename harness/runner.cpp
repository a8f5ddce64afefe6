#include "harness/runner.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
#include "harness/feature_cache.h"
#include "harness/image_io.h"
#include "harness/latency/system_info.h"
#include "harness/progress.h"
#include "harness/run_folder.h"
#include "harness/run_layout.h"
#include "harness/shard.h"
#include "harness/scoring.h"
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

// LibTorch's errors carry a C++ backtrace in what(); a record or a user gets the one-line message.
std::string error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

// One line per method call, appended with O_APPEND (a single write per line).
void append_event(const fs::path& run_dir, const json& event) {
  const std::string line = event.dump() + "\n";
  const int fd = ::open((run_dir / "events.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
  ::close(fd);
}

std::string relative_to(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  const fs::path rel = fs::relative(path, base, ec);
  return ec || rel.empty() ? path.string() : rel.string();
}

// ---- Plan: everything the command line says, checked before a file is written ----

// The metrics of a run: which are per-image, which set-level, which skipped and why.
struct MetricPlan {
  std::vector<std::unique_ptr<metrics::ImageMetric>> image;
  std::vector<std::unique_ptr<metrics::SetMetric>> set;
  std::vector<MetricInfo> infos;
  std::vector<std::pair<std::string, std::string>> skipped;
};

MetricPlan plan_metrics(const EvalConfig& config, const metrics::NetworkOptions& network) {
  MetricPlan plan;
  std::vector<std::string> names = config.metrics;
  const bool all = names.empty();
  if (all)
    for (const auto& e : metrics::metric_entries()) names.push_back(e.name);
  for (const std::string& name : names) {
    std::vector<std::string> missing;
    try {
      missing = metrics::missing_weights(name, network);
    } catch (const Error& e) {
      throw HarnessError(std::string("--metrics: ") + e.what());
    }
    if (!missing.empty()) {
      std::string reason;
      for (const auto& m : missing) reason += (reason.empty() ? "" : "; ") + m;
      plan.skipped.emplace_back(name, reason);
      continue;
    }
    if (metrics::is_image_metric(name)) {
      auto metric = metrics::make_image_metric(name, config.pixels, network);
      const auto& spec = metric->spec();
      plan.infos.push_back({spec.name, spec.convention, spec.version, spec.higher_is_better, true});
      plan.image.push_back(std::move(metric));
    } else if (metrics::is_set_metric(name)) {
      auto metric = metrics::make_set_metric(name, network);
      const auto& spec = metric->spec();
      plan.infos.push_back({spec.name, spec.convention, spec.version, spec.higher_is_better, false});
      plan.set.push_back(std::move(metric));
    } else if (!all) {
      metrics::make_image_metric(name, config.pixels, network);  // throws: unknown metric, listing the known
    } else {
      plan.skipped.emplace_back(name, "not computed by osor eval in this build");
    }
  }
  return plan;
}

struct MethodPlan {
  adapters::MethodSpec spec;
  std::string label;
};

std::vector<MethodPlan> plan_methods(const std::vector<std::string>& texts) {
  if (texts.empty()) throw HarnessError("--method: no method to evaluate");
  std::vector<MethodPlan> methods;
  std::map<std::string, std::string> text_of_label;
  for (const auto& text : texts) {
    MethodPlan m;
    try {
      m.spec = adapters::MethodSpec::parse(text);
      adapters::check_method_known(m.spec);
    } catch (const Error& e) {
      throw HarnessError(std::string("--method: ") + e.what());
    }
    m.label = adapters::method_label(m.spec);
    const auto [it, fresh] = text_of_label.emplace(m.label, text);
    if (!fresh)
      throw HarnessError("--method: '" + it->second + "' and '" + text + "' have the same label '" + m.label +
                         "'; give each its own with name=LABEL");
    methods.push_back(std::move(m));
  }
  return methods;
}

struct BenchPlan {
  BenchmarkSpec spec;
  std::vector<BenchmarkSample> samples;
  std::vector<std::string> masks;  // the run's mask settings this benchmark has
  int64_t first_item = 0;          // the number of its first work item (harness/shard.h)
};

std::vector<BenchPlan> plan_benches(const EvalConfig& config) {
  for (const auto& m : config.masks)
    if (m != "object" && m != "effect") throw HarnessError("--masks: unknown mask setting '" + m + "' (object, effect)");
  if (config.masks.empty()) throw HarnessError("--masks: no mask setting");
  std::vector<BenchPlan> benches;
  for (const auto& name : config.benches) {
    BenchPlan b;
    std::vector<fs::path> folders = {config.bench_dir};
    folders.insert(folders.end(), config.extra_bench_dirs.begin(), config.extra_bench_dirs.end());
    b.spec = find_benchmark(name, folders);
    b.samples = list_samples(b.spec, config.data_dir);
    if (b.samples.empty())
      throw HarnessError("benchmark " + name + ": no samples found under " + benchmark_root(b.spec, config.data_dir).string());
    if (config.limit > 0 && static_cast<int>(b.samples.size()) > config.limit) b.samples.resize(static_cast<size_t>(config.limit));
    for (const auto& m : config.masks)
      if (m == "object" || !b.spec.effect_mask.empty()) b.masks.push_back(m);
    benches.push_back(std::move(b));
  }
  if (benches.empty()) throw HarnessError("--bench: no benchmark");
  return benches;
}

// `--device cuda` on a CPU build, or a GPU index beyond the machine's: one line, before anything is written.
void check_device(const std::string& text) {
  std::optional<at::Device> device;
  try {
    device = at::Device(text);
  } catch (const std::exception&) {
    throw HarnessError("--device " + text + ": not a device (cpu, cuda or cuda:N)");
  }
  if (device->is_cpu()) return;
  if (!device->is_cuda()) throw HarnessError("--device " + text + ": only cpu and cuda[:N] are supported");
  if (!at::hasCUDA())
    throw HarnessError("--device " + text + ": this osor is built against a LibTorch without CUDA (" + TORCH_VERSION +
                       ", CPU only) or no GPU is visible; use --device cpu, or build against a CUDA LibTorch");
  const auto count = static_cast<int64_t>(at::getNumGPUs());
  if (device->has_index() && device->index() >= count)
    throw HarnessError("--device " + text + ": this machine has " + std::to_string(count) + " GPU(s)");
}

struct EvalPlan {
  EvalConfig config;
  metrics::NetworkOptions network;
  MetricPlan metrics;
  std::vector<MethodPlan> methods;
  std::vector<BenchPlan> benches;
  int64_t total = 0;  // work items of this shard: sample × method × mask setting
};

// The number of a work item (harness/shard.h): sample, method and mask setting of a benchmark.
int64_t work_item(const EvalPlan& plan, const BenchPlan& bench, size_t sample, size_t method, size_t masks) {
  return bench.first_item +
         static_cast<int64_t>((sample * plan.methods.size() + method) * bench.masks.size() + masks);
}

EvalPlan plan_eval(const EvalConfig& config) {
  EvalPlan plan;
  plan.config = config;
  check_device(config.device);
  if (config.bootstrap_resamples < 1) throw HarnessError("--bootstrap must be at least 1");
  if (config.limit < 0) throw HarnessError("--limit must be 0 (all) or positive");
  plan.methods = plan_methods(config.methods);
  plan.benches = plan_benches(config);
  plan.network.weights_dir = config.weights_dir;
  plan.network.device = config.device;
  plan.network.cfd_mode = config.cfd_mode;
  plan.metrics = plan_metrics(config, plan.network);
  int64_t items = 0;
  for (auto& b : plan.benches) {
    b.first_item = items;
    const auto n = static_cast<int64_t>(b.samples.size() * b.masks.size() * plan.methods.size());
    for (int64_t i = items; i < items + n; ++i) plan.total += config.shard.owns(i) ? 1 : 0;
    items += n;
  }
  return plan;
}

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

// ---- Samples: remove (or reuse a finished removal), then score the pair ----

// One method on one benchmark and mask setting.
struct Setting {
  const EvalPlan& plan;
  const fs::path& run_dir;
  adapters::Remover& remover;
  const std::string &label, &id;
  size_t method_index;
  const BenchPlan& bench;
  size_t masks_index;
  const std::string& masks;
  CellDirs cell;
  bool& first_timed_call;  // this method's warm-up (run_assembly.cpp's latency protocol)

  int64_t item(size_t sample_index) const { return work_item(plan, bench, sample_index, method_index, masks_index); }
};

adapters::RemovalInput load_input(const Setting& s, const BenchmarkSample& sample) {
  adapters::RemovalInput in;
  in.id = sample.id;
  in.bench = s.bench.spec.name;
  in.masks = s.masks;
  in.image_path = sample.input;
  in.mask_path = s.masks == "effect" ? sample.effect_mask : sample.object_mask;
  if (in.mask_path.empty()) throw HarnessError(s.bench.spec.name + "/" + sample.id + ": no " + s.masks + " mask file");
  in.image = read_image(sample.input).rgb;
  in.mask = read_mask(in.mask_path, s.bench.spec.polarity, in.image.size(2), in.image.size(3));
  if (in.mask.sum().item<double>() == 0) throw HarnessError(in.mask_path.string() + ": mask has no object pixels");
  return in;
}

// A removal finished before an interruption is reused (its .removal.json and output are whole); else it runs now.
at::Tensor remove_or_reuse(const Setting& s, const BenchmarkSample& sample, const SamplePaths& paths, SampleRecord& record) {
  std::error_code ec;
  if (fs::exists(paths.removal, ec)) {
    try {
      const json removal = read_json_file(paths.removal);
      const at::Tensor output = read_image(paths.output).rgb;
      record.latency_ms = value_from_json(removal.at("latency_ms"));
      record.latency_warmup = removal.value("latency_warmup", false);
      return output;
    } catch (const std::exception& e) {
      log::warn(paths.removal.string() + ": unusable finished removal (" + error_text(e) + "); removing again");
    }
  }
  const adapters::RemovalInput input = load_input(s, sample);
  const bool warmup = s.first_timed_call;
  s.first_timed_call = false;
  s.remover.synchronize();
  const auto start = std::chrono::steady_clock::now();
  adapters::RemovalOutput result = s.remover.remove(input);
  s.remover.synchronize();
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  record.latency_ms = result.latency_ms >= 0 ? result.latency_ms : wall;
  record.latency_warmup = warmup && result.latency_ms < 0;
  append_event(s.run_dir, {{"event", "remove"}, {"bench", s.bench.spec.name}, {"method", s.label}, {"method_id", s.id},
                           {"masks", s.masks}, {"id", sample.id}, {"latency_ms", record.latency_ms},
                           {"latency_warmup", record.latency_warmup}});
  const at::Tensor output = result.image.to(at::kFloat).cpu();
  if (output.sizes() != input.image.sizes())
    throw AdapterError(s.label + ": sample " + sample.id + ": output size differs from the input");
  write_image(paths.output, output);
  if (result.alpha.defined()) write_image(paths.alpha, result.alpha);
  json stages = json::object();
  for (const auto& [stage, ms] : result.stages_ms) stages[stage] = ms;
  write_file_atomic(paths.removal, json{{"latency_ms", record.latency_ms},
                                        {"latency_warmup", record.latency_warmup},
                                        {"stages_ms", stages}}.dump() + "\n");
  return read_image(paths.output).rgb;  // score exactly what was saved (8-bit)
}

void score_sample(const Setting& s, const BenchmarkSample& sample, const at::Tensor& output, SampleRecord& record) {
  const auto& image_metrics = s.plan.metrics.image;
  if (image_metrics.empty()) return;
  std::vector<const metrics::ImageMetric*> metrics;
  bool need_gt = false;
  for (const auto& metric : image_metrics) {
    metrics.push_back(metric.get());
    need_gt = need_gt || metric->needs_reference();
  }
  if (need_gt && sample.gt.empty()) throw HarnessError(s.bench.spec.name + "/" + sample.id + ": no ground-truth file");
  const ImagePair files{sample.id, s.run_dir / record.output, sample.gt,
                        s.masks == "effect" ? sample.effect_mask : sample.object_mask};
  const std::vector<double> values =
      score_pair(metrics, output, files, s.bench.spec.polarity, at::Device(s.plan.config.device));
  for (size_t k = 0; k < metrics.size(); ++k) {
    record.metrics[metrics[k]->spec().name] = values[k];
    for (const auto& [name, value] : metrics[k]->last_terms()) record.metric_terms[metrics[k]->spec().name][name] = value;
  }
}

SampleRecord new_record(const Setting& s, const BenchmarkSample& sample, const SamplePaths& paths) {
  SampleRecord record;
  record.bench = s.bench.spec.name;
  record.method = s.label;
  record.method_id = s.id;
  record.masks = s.masks;
  record.id = sample.id;
  record.output = relative_to(paths.output, s.run_dir);
  record.input = fs::absolute(sample.input).string();
  record.gt = sample.gt.empty() ? "" : fs::absolute(sample.gt).string();
  const fs::path setting_mask = s.masks == "effect" ? sample.effect_mask : sample.object_mask;
  record.mask = setting_mask.empty() ? "" : fs::absolute(setting_mask).string();
  record.mask_polarity = s.bench.spec.polarity == MaskPolarity::BlackIsObject ? "black" : "white";
  return record;
}

// Samples of the setting still to do in this shard: no record, or a damaged one (redone, with a warning naming
// the file).
std::vector<const BenchmarkSample*> pending_samples(const Setting& s, Progress& progress) {
  std::vector<const BenchmarkSample*> pending;
  for (size_t i = 0; i < s.bench.samples.size(); ++i) {
    if (!s.plan.config.shard.owns(s.item(i))) continue;
    const BenchmarkSample& sample = s.bench.samples[i];
    const SamplePaths paths = sample_paths(s.cell, sample.id);
    std::string damaged;
    if (read_finished_record(paths.record, &damaged)) {
      progress.advance();
      continue;
    }
    if (!damaged.empty()) log::warn(damaged + "; redoing the sample");
    pending.push_back(&sample);
  }
  return pending;
}

// Methods that process a whole folder in one call (an external program) get every pending input first.
void prepare_folder_method(const Setting& s, const std::vector<const BenchmarkSample*>& pending) {
  std::vector<adapters::RemovalInput> inputs;
  std::error_code ec;
  for (const auto* sample : pending) {
    if (fs::exists(sample_paths(s.cell, sample->id).removal, ec)) continue;
    try {
      inputs.push_back(load_input(s, *sample));
    } catch (const std::exception&) {
      // reported per sample when it is removed
    }
  }
  s.remover.prepare(inputs);
}

void run_setting(const Setting& s, Progress& progress) {
  const std::vector<const BenchmarkSample*> pending = pending_samples(s, progress);
  if (pending.empty()) return;
  if (s.remover.processes_folders()) prepare_folder_method(s, pending);
  for (const auto* sample : pending) {
    const SamplePaths paths = sample_paths(s.cell, sample->id);
    SampleRecord record = new_record(s, *sample, paths);
    try {
      const at::Tensor output = remove_or_reuse(s, *sample, paths, record);
      score_sample(s, *sample, output, record);
    } catch (const std::exception& e) {
      if (s.plan.config.fail_fast) throw;
      record.status = "failed";
      record.error = error_text(e);
      record.metrics.clear();
      log::warn(s.bench.spec.name + "/" + sample->id + " (" + s.label + ", " + s.masks + " mask): " + record.error);
    }
    write_file_atomic(paths.record, to_json(record).dump() + "\n");
    progress.advance();
  }
}

struct MethodRun {
  std::string label, id, folder;
};

std::vector<MethodRun> run_methods(const EvalPlan& plan, const fs::path& run_dir) {
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
    bool first_timed_call = true;
    const auto load_start = std::chrono::steady_clock::now();
    const std::unique_ptr<adapters::Remover> remover = adapters::make_remover(method.spec, context);
    MethodRun run{method.label, remover->id(), method_folder_name(remover->id())};
    append_event(run_dir, {{"event", "load"}, {"method", run.label}, {"method_id", run.id},
                           {"load_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count()}});
    for (const auto& bench : plan.benches)
      for (size_t k = 0; k < bench.masks.size(); ++k)
        run_setting({plan, run_dir, *remover, run.label, run.id, m, bench, k, bench.masks[k],
                     cell_dirs(run_dir, bench.spec.name, run.folder, bench.masks[k]), first_timed_call},
                    progress);
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
                    const FeatureCache& cache, const SetCell& cell) {
  const std::string name = metric.spec().name;
  try {
    if (cell.outputs.empty()) throw HarnessError("no sample of this setting was removed and scored successfully");
    const FeatureSet pred = extract_features(extractor, cell.outputs, &cache);
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
                      const metrics::SetMetric& metric, const FeatureCache& cache) {
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
    ref = extract_features(*extractor, gts, &cache);
  } catch (const std::exception& e) {  // no reference features: every cell of this benchmark fails
    const std::string why = metric.spec().name + ": reference features of " + bench.spec.name + ": " + error_text(e);
    log::warn(why);
    for (const SetCell* cell : todo)
      write_set_cell_failure(cell->dirs, metric.spec().name, why, cell->failed + static_cast<int>(cell->outputs.size()));
    return;
  }
  for (const SetCell* cell : todo) write_set_cell(metric, *extractor, ref, cache, *cell);
}

void score_sets(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods) {
  if (plan.metrics.set.empty()) return;
  const FeatureCache cache(FeatureCache::resolve_dir(plan.config.cache_dir.string()));
  for (const auto& bench : plan.benches) {
    const std::vector<SetCell> cells = set_cells(plan, run_dir, methods, bench);
    for (const auto& metric : plan.metrics.set) score_set_metric(plan, bench, cells, *metric, cache);
  }
}

// ---- A shard's sets: the features `osor merge` computes the set metrics from ----

// The ground truths of the samples this shard has work of, rows named by sample id.
FeatureSet shard_reference_features(const EvalPlan& plan, const BenchPlan& bench,
                                    const metrics::FeatureExtractor& extractor, const FeatureCache& cache) {
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
  FeatureSet set = extract_features(extractor, gts, &cache);
  set.names = ids;
  return set;
}

// Features of one extractor for every cell of one benchmark; a failure leaves its file out (the merge names it).
void write_bench_shard_features(const EvalPlan& plan, const fs::path& run_dir, const BenchPlan& bench,
                                const std::vector<SetCell>& cells, const metrics::FeatureExtractor& extractor,
                                const std::string& key, const FeatureCache& cache) {
  try {
    write_feature_file(shard_reference_features_file(run_dir, bench.spec.name, key),
                       shard_reference_features(plan, bench, extractor, cache));
  } catch (const std::exception& e) {
    log::warn(bench.spec.name + ": reference features (" + key + ") failed: " + error_text(e));
  }
  for (const SetCell& cell : cells) {
    if (cell.outputs.empty()) continue;
    try {
      FeatureSet set = extract_features(extractor, cell.outputs, &cache);
      set.names = cell.ids;
      const fs::path file = shard_features_file(run_dir, bench.spec.name, cell.method_folder, cell.masks, key);
      fs::create_directories(file.parent_path());
      write_feature_file(file, set);
    } catch (const std::exception& e) {
      log::warn(cell.dirs.records.string() + ": features (" + key + ") failed: " + error_text(e));
    }
  }
}

void write_shard_features(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods) {
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
      write_bench_shard_features(plan, run_dir, bench, set_cells(plan, run_dir, methods, bench), *extractor, key, cache);
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

void write_run_meta(const EvalPlan& plan, const fs::path& run_dir, const std::vector<MethodRun>& methods) {
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
  const std::vector<MethodRun> methods = run_methods(run.plan, run.dir);
  if (run.plan.config.shard.whole()) score_sets(run.plan, run.dir, methods);
  else write_shard_features(run.plan, run.dir, methods);
  write_run_meta(run.plan, run.dir, methods);
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
