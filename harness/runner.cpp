#include "harness/runner.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core/version.hpp>
#include <torch/version.h>
#include <set>
#include <sstream>

#include "adapters/error.h"
#include "adapters/registry.h"
#include "harness/atomic_file.h"
#include "harness/benchmark.h"
#include "harness/error.h"
#include "harness/feature_cache.h"
#include "harness/image_io.h"
#include "harness/latency/system_info.h"
#include "harness/progress.h"
#include "harness/set_scoring.h"
#include "harness/statistics.h"
#include "metrics/registry.h"
#include "model/log.h"
#include "model/weights_manifest.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

// The same measurement as `osor latency` (harness/latency/latency_profiler.h) with one call per sample: the first
// timed call of each method in a process pays one-time costs (allocator growth, kernel selection, lazy
// initialisation), so it is recorded with latency_warmup and left out of the median rather than adding an untimed
// extra call (which would double the cost of slow methods on small benchmarks).
constexpr const char* kLatencyProtocol =
    "wall clock (steady clock) around one remove() call per sample, device-synchronised before and after, model "
    "load and image decoding excluded; the first call of each method is warm-up and excluded; median over the "
    "benchmark's other samples (methods that process a folder in one call report their total time divided by the "
    "number of samples, with no warm-up); on CUDA with LibTorch's default cuDNN heuristics (no autotuning, "
    "so that outputs repeat run to run; `osor latency` autotunes)";

// A folder name for a method id: readable, and unique through a hash of the full id.
std::string method_slug(const std::string& id) {
  std::string slug;
  for (char c : id) slug += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  if (slug.size() > 48) slug.resize(48);
  uint64_t h = seed_from(id, 0);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(h & 0xffffffffull));
  return slug + "-" + buf;
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json read_json_file(const fs::path& file) {
  const auto bytes = read_file_bytes(file);
  try {
    return json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {
    throw HarnessError(file.string() + ": invalid JSON: " + e.what());
  }
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

struct Paths {
  fs::path output, record, removal;
};

Paths sample_paths(const fs::path& run_dir, const std::string& bench, const std::string& slug, const std::string& masks,
                   const std::string& id) {
  const fs::path rel = fs::path(bench) / slug / masks;
  return {run_dir / "outputs" / rel / (id + ".png"), run_dir / "records" / rel / (id + ".json"),
          run_dir / "records" / rel / (id + ".removal.json")};
}

json provenance(const EvalConfig& config) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return {{"git_revision", OSOR_GIT_REVISION},
          {"osor_version", "0.1.0"},
          {"libtorch", TORCH_VERSION},
          {"opencv", CV_VERSION},
          {"compiler", __VERSION__},
          {"host", host},
          {"device", config.device},
          {"device_name", device_label(at::Device(config.device))},
          {"dtype", config.dtype}};
}

}  // namespace

json config_to_json(const EvalConfig& c) {
  return {{"benches", c.benches},
          {"methods", c.methods},
          {"metrics", c.metrics},
          {"masks", c.masks},
          {"channels", metrics::to_string(c.pixels.channels)},
          {"region", metrics::to_string(c.pixels.region)},
          {"data_dir", c.data_dir.string()},
          {"bench_dir", c.bench_dir.string()},
          {"weights_dir", c.weights_dir.string()},
          {"cache_dir", c.cache_dir.string()},
          {"device", c.device},
          {"dtype", c.dtype},
          {"seed", c.seed},
          {"bootstrap_resamples", c.bootstrap_resamples},
          {"limit", c.limit},
          {"fail_fast", c.fail_fast}};
}

EvalConfig config_from_json(const json& j) {
  EvalConfig c;
  c.benches = j.at("benches").get<std::vector<std::string>>();
  c.methods = j.at("methods").get<std::vector<std::string>>();
  c.metrics = j.at("metrics").get<std::vector<std::string>>();
  c.masks = j.at("masks").get<std::vector<std::string>>();
  c.pixels.channels = metrics::parse_channels(j.value("channels", "rgb"));
  c.pixels.region = metrics::parse_region(j.value("region", "full"));
  c.data_dir = j.value("data_dir", "");
  c.bench_dir = j.value("bench_dir", "");
  c.weights_dir = j.value("weights_dir", "");
  c.cache_dir = j.value("cache_dir", "");
  c.device = j.value("device", "cpu");
  c.dtype = j.value("dtype", "fp32");
  c.seed = j.value("seed", 0ull);
  c.bootstrap_resamples = j.value("bootstrap_resamples", 1000);
  c.limit = j.value("limit", 0);
  c.fail_fast = j.value("fail_fast", false);
  return c;
}

RunRecord run_eval(const EvalConfig& requested, const EvalOptions& options) {
  if (requested.out_dir.empty()) throw HarnessError("osor eval: no output folder (--out)");
  const fs::path run_dir = requested.out_dir;
  const fs::path config_file = run_dir / "config.json";
  EvalConfig config = requested;
  std::error_code ec;
  if (fs::exists(config_file, ec)) {
    if (!options.resume)
      throw HarnessError(run_dir.string() + ": a run already exists here; use --resume to continue it or choose another --out");
    config = config_from_json(read_json_file(config_file));
    config.out_dir = run_dir;
    if (const size_t orphans = remove_orphaned_temporaries(run_dir))
      log::info(run_dir.string() + ": removed " + std::to_string(orphans) + " half-written temporary file(s) of the "
                "interrupted run");
  } else {
    if (config.bench_dir.empty()) config.bench_dir = default_bench_dir();
    config.data_dir = resolve_data_dir(config.data_dir);
    config.weights_dir = model::resolve_weights_dir(config.weights_dir.string());
    fs::create_directories(run_dir);
    write_file_atomic(config_file, config_to_json(config).dump(1) + "\n");
  }
  for (const auto& m : config.masks)
    if (m != "object" && m != "effect") throw HarnessError("--masks: unknown mask setting '" + m + "' (object, effect)");

  metrics::NetworkOptions network;
  network.weights_dir = config.weights_dir;
  network.device = config.device;
  const MetricPlan plan = plan_metrics(config, network);
  for (const auto& [metric, reason] : plan.skipped) log::warn("metric " + metric + " skipped: " + reason);

  adapters::RemoverContext context;
  context.weights_dir = config.weights_dir;
  context.device = config.device;
  context.dtype = config.dtype;
  context.seed = config.seed;
  context.work_dir = run_dir / "work";

  // Benchmarks and their samples first, so a bad name fails before any work.
  std::vector<std::pair<BenchmarkSpec, std::vector<BenchmarkSample>>> benches;
  int64_t total = 0;
  for (const auto& name : config.benches) {
    BenchmarkSpec spec = find_benchmark(name, config.bench_dir);
    auto samples = list_samples(spec, config.data_dir);
    if (samples.empty()) throw HarnessError("benchmark " + name + ": no samples found under " + benchmark_root(spec, config.data_dir).string());
    if (config.limit > 0 && static_cast<int>(samples.size()) > config.limit) samples.resize(static_cast<size_t>(config.limit));
    int settings = 0;
    for (const auto& m : config.masks) settings += (m == "object" || !spec.effect_mask.empty()) ? 1 : 0;
    total += static_cast<int64_t>(samples.size()) * settings * static_cast<int64_t>(config.methods.size());
    benches.emplace_back(std::move(spec), std::move(samples));
  }
  std::vector<adapters::MethodSpec> method_specs;
  for (const auto& text : config.methods) method_specs.push_back(adapters::MethodSpec::parse(text));

  Progress progress("osor eval", total);
  std::vector<std::pair<std::string, std::string>> method_ids;  // (id, folder slug) per method, in order
  for (const auto& method_spec : method_specs) {
    bool first_timed_call = true;  // this method's warm-up (kLatencyProtocol)
    const auto load_start = std::chrono::steady_clock::now();
    const std::unique_ptr<adapters::Remover> remover = adapters::make_remover(method_spec, context);
    const std::string method_id = remover->id(), slug = method_slug(method_id);
    method_ids.emplace_back(method_id, slug);
    append_event(run_dir, {{"event", "load"}, {"method", method_id},
                           {"load_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count()}});
    for (const auto& [spec, samples] : benches) {
      for (const std::string& masks : config.masks) {
        if (masks == "effect" && spec.effect_mask.empty()) continue;
        // Samples still to do, and the inputs of those whose removal has not run yet.
        std::vector<const BenchmarkSample*> pending;
        for (const auto& s : samples)
          if (!fs::exists(sample_paths(run_dir, spec.name, slug, masks, s.id).record, ec)) pending.push_back(&s);
          else progress.advance();
        if (pending.empty()) continue;
        auto load_input = [&](const BenchmarkSample& s) {
          adapters::RemovalInput in;
          in.id = s.id;
          in.bench = spec.name;
          in.masks = masks;
          in.image_path = s.input;
          in.mask_path = masks == "effect" ? s.effect_mask : s.object_mask;
          if (in.mask_path.empty()) throw HarnessError(spec.name + "/" + s.id + ": no " + masks + " mask file");
          in.image = read_image(s.input).rgb;
          in.mask = read_mask(in.mask_path, spec.polarity, in.image.size(2), in.image.size(3));
          if (in.mask.sum().item<double>() == 0) throw HarnessError(in.mask_path.string() + ": mask has no object pixels");
          return in;
        };
        if (remover->processes_folders()) {
          std::vector<adapters::RemovalInput> inputs;
          for (const auto* s : pending) {
            if (fs::exists(sample_paths(run_dir, spec.name, slug, masks, s->id).removal, ec)) continue;
            try {
              inputs.push_back(load_input(*s));
            } catch (const Error&) {
              // reported below, per sample
            }
          }
          remover->prepare(inputs);
        }
        for (const auto* s : pending) {
          const Paths paths = sample_paths(run_dir, spec.name, slug, masks, s->id);
          SampleRecord record;
          record.bench = spec.name;
          record.method = method_id;
          record.masks = masks;
          record.id = s->id;
          record.output = relative_to(paths.output, run_dir);
          record.input = fs::absolute(s->input).string();
          record.gt = s->gt.empty() ? "" : fs::absolute(s->gt).string();
          const fs::path setting_mask = masks == "effect" ? s->effect_mask : s->object_mask;
          record.mask = setting_mask.empty() ? "" : fs::absolute(setting_mask).string();
          record.mask_polarity = spec.polarity == MaskPolarity::BlackIsObject ? "black" : "white";
          try {
            at::Tensor output;
            if (fs::exists(paths.removal, ec)) {  // removal finished before an interruption: reuse its output
              const json removal = read_json_file(paths.removal);
              record.latency_ms = value_from_json(removal.at("latency_ms"));
              record.latency_warmup = removal.value("latency_warmup", false);
              output = read_image(paths.output).rgb;
            } else {
              const adapters::RemovalInput input = load_input(*s);
              const bool warmup = first_timed_call;
              first_timed_call = false;
              remover->synchronize();
              const auto start = std::chrono::steady_clock::now();
              adapters::RemovalOutput result = remover->remove(input);
              remover->synchronize();
              const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
              record.latency_ms = result.latency_ms >= 0 ? result.latency_ms : wall;
              record.latency_warmup = warmup && result.latency_ms < 0;
              append_event(run_dir, {{"event", "remove"}, {"bench", spec.name}, {"method", method_id}, {"masks", masks},
                                     {"id", s->id}, {"latency_ms", record.latency_ms},
                                     {"latency_warmup", record.latency_warmup}});
              output = result.image.to(at::kFloat).cpu();
              if (output.sizes() != input.image.sizes())
                throw AdapterError(method_id + ": sample " + s->id + ": output size differs from the input");
              write_image(paths.output, output);
              if (result.alpha.defined()) write_image(paths.output.parent_path() / (s->id + ".alpha.png"), result.alpha);
              json stages = json::object();
              for (const auto& [stage, ms] : result.stages_ms) stages[stage] = ms;
              write_file_atomic(paths.removal, json{{"latency_ms", record.latency_ms},
                                                    {"latency_warmup", record.latency_warmup},
                                                    {"stages_ms", stages}}.dump() + "\n");
              output = read_image(paths.output).rgb;  // score exactly what was saved (8-bit)
            }
            if (!plan.image.empty()) {
              if (s->gt.empty()) throw HarnessError(spec.name + "/" + s->id + ": no ground-truth file");
              const at::Tensor gt = read_image(s->gt).rgb;
              if (gt.sizes() != output.sizes())
                throw HarnessError(s->gt.string() + ": ground truth is " + std::to_string(gt.size(2)) + "x" +
                                   std::to_string(gt.size(3)) + ", the output is " + std::to_string(output.size(2)) + "x" +
                                   std::to_string(output.size(3)));
              at::Tensor mask;
              const fs::path mask_path = masks == "effect" ? s->effect_mask : s->object_mask;
              if (!mask_path.empty()) mask = read_mask(mask_path, spec.polarity, gt.size(2), gt.size(3));
              const at::Device device(config.device);
              for (const auto& metric : plan.image) {
                const at::Tensor m = metric->needs_mask() && mask.defined() ? mask.to(device) : at::Tensor();
                record.metrics[metric->spec().name] = metric->evaluate(output.to(device), gt.to(device), m)[0].item<double>();
              }
            }
          } catch (const Error& e) {
            if (config.fail_fast) throw;
            record.status = "failed";
            record.error = e.what();
            record.metrics.clear();
            log::warn(spec.name + "/" + s->id + " (" + method_id + ", " + masks + " mask): " + e.what());
          }
          write_file_atomic(paths.record, to_json(record).dump() + "\n");
          progress.advance();
        }
      }
    }
  }
  progress.finish();

  // Set-level metrics over the saved outputs and the ground truths, one value per (bench, method, masks).
  if (!plan.set.empty()) {
    const FeatureCache cache(FeatureCache::resolve_dir(config.cache_dir.string()));
    for (const auto& metric : plan.set) {
      metrics::NetworkOptions net = network;
      net.preprocessing = metric->preprocessing();
      const auto extractor = metrics::make_feature_extractor(metric->extractor(), net);
      for (const auto& [spec, samples] : benches) {
        std::vector<fs::path> gts;
        for (const auto& s : samples)
          if (!s.gt.empty()) gts.push_back(s.gt);
        const FeatureSet ref = extract_features(*extractor, gts, &cache);
        for (const auto& [method_id, slug] : method_ids) {
          for (const std::string& masks : config.masks) {
            if (masks == "effect" && spec.effect_mask.empty()) continue;
            const fs::path file = run_dir / "records" / spec.name / slug / masks / ("_set_" + metric->spec().name + ".json");
            if (fs::exists(file, ec)) continue;
            std::vector<fs::path> outputs;
            int failed = 0;
            for (const auto& s : samples) {
              const Paths paths = sample_paths(run_dir, spec.name, slug, masks, s.id);
              const SampleRecord r = sample_from_json(read_json_file(paths.record));
              if (r.status == "ok") outputs.push_back(paths.output); else ++failed;
            }
            const FeatureSet pred = extract_features(*extractor, outputs, &cache);
            const double value = metric->evaluate(pred.features, ref.features);
            write_file_atomic(file, json{{"metric", metric->spec().name}, {"value", json_value(value)},
                                         {"n", outputs.size()}, {"n_failed", failed}}.dump() + "\n");
          }
        }
      }
    }
  }

  json run_meta = {{"run_id", run_dir.filename().string()},
                   {"created", now_iso8601()},
                   {"provenance", provenance(config)}};
  json metric_infos = json::array();
  for (const auto& m : plan.infos)
    metric_infos.push_back({{"name", m.name}, {"convention", m.convention}, {"version", m.version},
                            {"higher_is_better", m.higher_is_better}, {"per_image", m.per_image}});
  json skipped = json::array();
  for (const auto& [metric, reason] : plan.skipped) skipped.push_back({{"metric", metric}, {"reason", reason}});
  run_meta["metrics"] = metric_infos;
  run_meta["skipped_metrics"] = skipped;
  write_file_atomic(run_dir / "run_meta.json", run_meta.dump(1) + "\n");
  return assemble_run(run_dir);
}

RunRecord assemble_run(const fs::path& run_dir) {
  const EvalConfig config = config_from_json(read_json_file(run_dir / "config.json"));
  const json meta = read_json_file(run_dir / "run_meta.json");
  RunRecord run;
  run.run_id = meta.value("run_id", run_dir.filename().string());
  run.created = meta.value("created", "");
  run.config_json = config_to_json(config).dump();
  run.provenance_json = meta.value("provenance", json::object()).dump();
  run.latency_protocol = kLatencyProtocol;
  for (const auto& m : meta.value("metrics", json::array()))
    run.metrics.push_back({m.at("name").get<std::string>(), m.value("convention", ""), m.value("version", 1),
                           m.value("higher_is_better", true), m.value("per_image", true)});
  for (const auto& s : meta.value("skipped_metrics", json::array()))
    run.skipped_metrics.emplace_back(s.value("metric", ""), s.value("reason", ""));

  // Records, in a stable order: config's benches, methods (by their recorded id), masks, sample id.
  const fs::path records = run_dir / "records";
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(records, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".json") continue;
    const std::string name = entry.path().filename().string();
    if (name.size() > 13 && name.compare(name.size() - 13, 13, ".removal.json") == 0) continue;
    if (name.rfind("_set_", 0) == 0 || name[0] == '.') continue;  // set-level values are read per group below
    run.samples.push_back(sample_from_json(read_json_file(entry.path())));
  }
  auto order = [&](const std::vector<std::string>& list, const std::string& v) {
    const auto it = std::find(list.begin(), list.end(), v);
    return static_cast<size_t>(it - list.begin());
  };
  std::vector<std::string> method_order;  // ids in config order, learnt from the records
  for (const auto& s : run.samples)
    if (std::find(method_order.begin(), method_order.end(), s.method) == method_order.end()) method_order.push_back(s.method);
  std::stable_sort(method_order.begin(), method_order.end(), [&](const std::string& a, const std::string& b) {
    auto position = [&](const std::string& id) {
      for (size_t i = 0; i < config.methods.size(); ++i) {
        const auto spec = adapters::MethodSpec::parse(config.methods[i]);
        if (id == config.methods[i] || id.rfind(spec.name, 0) == 0) return i;
      }
      return config.methods.size();
    };
    return position(a) < position(b);
  });
  std::sort(run.samples.begin(), run.samples.end(), [&](const SampleRecord& a, const SampleRecord& b) {
    return std::make_tuple(order(config.benches, a.bench), order(method_order, a.method), order(config.masks, a.masks), a.id) <
           std::make_tuple(order(config.benches, b.bench), order(method_order, b.method), order(config.masks, b.masks), b.id);
  });

  // Aggregates of per-image metrics and latency per (bench, method, masks).
  std::map<std::tuple<size_t, size_t, size_t>, std::vector<const SampleRecord*>> groups;
  for (const auto& s : run.samples)
    groups[{order(config.benches, s.bench), order(method_order, s.method), order(config.masks, s.masks)}].push_back(&s);
  for (const auto& [key, members] : groups) {
    const SampleRecord& first = *members.front();
    int failed = 0;
    std::vector<double> latencies, warmup_latencies;
    for (const auto* s : members) {
      if (s->status != "ok") ++failed;
      else (s->latency_warmup ? warmup_latencies : latencies).push_back(s->latency_ms);
    }
    int n_warmup = static_cast<int>(warmup_latencies.size());
    if (latencies.empty()) {  // only the warm-up call succeeded: report it rather than nothing
      latencies = warmup_latencies;
      n_warmup = 0;
    }
    for (const auto& info : run.metrics) {
      if (!info.per_image) continue;
      std::vector<double> values;
      for (const auto* s : members)
        if (s->status == "ok" && s->metrics.count(info.name)) values.push_back(s->metrics.at(info.name));
      const Summary summary = summarize(values, config.bootstrap_resamples,
                                        seed_from(first.bench + "|" + first.method + "|" + first.masks + "|" + info.name, config.seed));
      Aggregate a{first.bench, first.method, first.masks, info.name, info.convention, summary.mean, summary.std,
                  summary.ci95, summary.n, failed};
      if (values.empty()) a.ci95.reset();
      run.aggregates.push_back(a);
    }
    if (!latencies.empty()) {
      std::vector<double> sorted = latencies;
      std::sort(sorted.begin(), sorted.end());
      const size_t n = sorted.size();
      const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
      double sum = 0;
      for (double v : sorted) sum += v;
      run.latency.push_back({first.bench, first.method, first.masks, median, sum / static_cast<double>(n), static_cast<int>(n),
                             n_warmup});
    }
    // Set-level metrics stored beside the group's records.
    const fs::path group_dir = run_dir / "records" / first.bench / fs::path(members.front()->output).parent_path().parent_path().filename() / first.masks;
    for (const auto& info : run.metrics) {
      if (info.per_image) continue;
      const fs::path file = group_dir / ("_set_" + info.name + ".json");
      if (!fs::exists(file, ec)) continue;
      const json j = read_json_file(file);
      Aggregate a{first.bench, first.method, first.masks, info.name, info.convention, value_from_json(j.at("value")), 0,
                  std::nullopt, j.value("n", 0), j.value("n_failed", 0)};
      run.aggregates.push_back(a);
    }
  }

  write_run_record(run_dir / "results.json", run);
  // samples.csv: one row per (bench, method, masks, sample), one column per metric.
  std::ostringstream csv;
  csv << "bench,method,masks,id,status,latency_ms";
  for (const auto& info : run.metrics)
    if (info.per_image) csv << "," << info.name;
  csv << ",error\n";
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const auto& s : run.samples) {
    csv << quoted(s.bench) << "," << quoted(s.method) << "," << s.masks << "," << quoted(s.id) << "," << s.status << ","
        << s.latency_ms;
    for (const auto& info : run.metrics) {
      if (!info.per_image) continue;
      csv << ",";
      if (s.metrics.count(info.name)) csv << json_value(s.metrics.at(info.name)).dump();
    }
    csv << "," << (s.error.empty() ? "" : quoted(s.error)) << "\n";
  }
  write_file_atomic(run_dir / "samples.csv", csv.str());
  return run;
}

}  // namespace osor::harness
