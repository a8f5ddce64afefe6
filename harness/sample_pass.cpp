#include "harness/sample_pass.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

#include "adapters/error.h"
#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/image_io.h"
#include "harness/pipeline.h"
#include "harness/run_folder.h"
#include "harness/run_layout.h"
#include "harness/scoring.h"
#include "model/log.h"
#include "reports/thumbnails.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

std::string relative_to(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  const fs::path rel = fs::relative(path, base, ec);
  return ec || rel.empty() ? path.string() : rel.string();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One mask setting of a sample, and what passes between the stages for it.
struct SettingWork {
  size_t masks_index = 0;
  std::string masks;
  SamplePaths paths;
  SampleRecord record;
  adapters::RemovalInput input;    // when the removal runs now
  adapters::RemovalOutput result;  // the method's result, when it ran now
  at::Tensor output;               // the pixels scored: exactly what the output file decodes to
  bool reused = false;             // the removal finished before an interruption
  std::string error;               // set: the setting failed (recorded as failed)
};

// A sample with the settings still to do; the ground truth is decoded once for all of them.
struct SampleWork {
  size_t index = 0;  // in bench.samples
  std::vector<SettingWork> settings;
  at::Tensor reference;
  std::string reference_error;
};

class BenchPass {
 public:
  BenchPass(const MethodPass& pass, const BenchPlan& bench) : pass_(pass), bench_(bench) {
    for (const auto& metric : pass.plan.metrics.image) metrics_.push_back(metric.get());
  }

  void run() {
    std::vector<SampleWork> work = pending_work();
    if (work.empty()) return;
    if (pass_.remover.processes_folders()) prepare_folder_method(work);
    PipelineStages stages;
    stages.prepare = [&](size_t i) { decode(work[i]); };
    stages.call = [&](size_t i) { call_method(work[i]); };
    stages.finish = [&](size_t i) {
      finish(work[i]);
      work[i] = SampleWork();  // the decoded images are not needed any more
    };
    run_pipeline(work.size(), pass_.jobs, !pass_.remover.thread_safe(), stages);
  }

 private:
  const BenchmarkSample& sample_of(const SampleWork& w) const { return bench_.samples[w.index]; }
  bool fail_fast() const { return pass_.plan.config.fail_fast; }

  fs::path setting_mask(const BenchmarkSample& sample, const std::string& masks) const {
    return masks == "effect" ? sample.effect_mask : sample.object_mask;
  }

  SampleRecord new_record(const BenchmarkSample& sample, const std::string& masks, const SamplePaths& paths) const {
    SampleRecord record;
    record.bench = bench_.spec.name;
    record.method = pass_.label;
    record.method_id = pass_.id;
    record.masks = masks;
    record.id = sample.id;
    record.output = relative_to(paths.output, pass_.run_dir);
    record.input = fs::absolute(sample.input).string();
    record.gt = sample.gt.empty() ? "" : fs::absolute(sample.gt).string();
    const fs::path mask = setting_mask(sample, masks);
    record.mask = mask.empty() ? "" : fs::absolute(mask).string();
    record.mask_polarity = bench_.spec.polarity == MaskPolarity::BlackIsObject ? "black" : "white";
    return record;
  }

  // Settings of this shard without a finished record (a damaged one is redone, with a warning naming the file);
  // finished ones count as progress now.
  std::vector<SampleWork> pending_work() const {
    std::vector<SampleWork> work;
    for (size_t i = 0; i < bench_.samples.size(); ++i) {
      SampleWork sample_work;
      sample_work.index = i;
      for (size_t k = 0; k < bench_.masks.size(); ++k) {
        if (!pass_.plan.config.shard.owns(work_item(pass_.plan, bench_, i, pass_.method_index, k))) continue;
        const CellDirs cell = cell_dirs(pass_.run_dir, bench_.spec.name, pass_.folder, bench_.masks[k]);
        SettingWork setting;
        setting.masks_index = k;
        setting.masks = bench_.masks[k];
        setting.paths = sample_paths(cell, bench_.samples[i].id);
        std::string damaged;
        if (read_finished_record(setting.paths.record, &damaged)) {
          pass_.progress.advance();
          continue;
        }
        if (!damaged.empty()) log::warn(damaged + "; redoing the sample");
        setting.record = new_record(bench_.samples[i], setting.masks, setting.paths);
        sample_work.settings.push_back(std::move(setting));
      }
      if (!sample_work.settings.empty()) work.push_back(std::move(sample_work));
    }
    return work;
  }

  adapters::RemovalInput removal_input(const BenchmarkSample& sample, const std::string& masks,
                                       const at::Tensor& image) const {
    adapters::RemovalInput in;
    in.id = sample.id;
    in.bench = bench_.spec.name;
    in.masks = masks;
    in.image_path = sample.input;
    in.mask_path = setting_mask(sample, masks);
    if (in.mask_path.empty()) throw HarnessError(bench_.spec.name + "/" + sample.id + ": no " + masks + " mask file");
    in.image = image;
    in.mask = read_mask(in.mask_path, bench_.spec.polarity, image.size(2), image.size(3));
    if (in.mask.sum().item<double>() == 0) throw HarnessError(in.mask_path.string() + ": mask has no object pixels");
    return in;
  }

  // Methods that process a whole folder in one call (an external program) get every pending input of a mask
  // setting first; an input that cannot be read is reported when its sample is removed.
  void prepare_folder_method(const std::vector<SampleWork>& work) const {
    for (size_t k = 0; k < bench_.masks.size(); ++k) {
      std::vector<adapters::RemovalInput> inputs;
      std::error_code ec;
      for (const SampleWork& w : work)
        for (const SettingWork& s : w.settings) {
          if (s.masks_index != k || fs::exists(s.paths.removal, ec)) continue;
          try {
            inputs.push_back(removal_input(sample_of(w), s.masks, read_image(sample_of(w).input).rgb));
          } catch (const std::exception&) {
          }
        }
      if (!inputs.empty()) pass_.remover.prepare(inputs);
    }
  }

  // A removal finished before an interruption (its .removal.json and output are whole): its output and latency.
  bool reuse_removal(SettingWork& s) const {
    std::error_code ec;
    if (!fs::exists(s.paths.removal, ec)) return false;
    try {
      const json removal = read_json_file(s.paths.removal);
      s.output = read_image(s.paths.output).rgb;
      s.record.latency_ms = value_from_json(removal.at("latency_ms"));
      s.record.latency_warmup = removal.value("latency_warmup", false);
      return true;
    } catch (const std::exception& e) {
      log::warn(s.paths.removal.string() + ": unusable finished removal (" + error_text(e) + "); removing again");
      return false;
    }
  }

  // The gallery's small copy of an image (reports/thumbnails.h), written once per run; a failure only warns (the
  // page then shows the full image).
  void thumbnail(const std::string& relative, const at::Tensor& image) const {
    if (relative.empty() || !image.defined()) return;
    const fs::path path = pass_.run_dir / relative;
    std::error_code ec;
    if (fs::exists(path, ec)) return;
    const auto start = std::chrono::steady_clock::now();
    try {
      write_thumbnail(path, image, reports::kThumbnailLongSide);
    } catch (const std::exception& e) {
      log::warn(path.string() + ": " + error_text(e));
    }
    pass_.timing.add("thumbnails", seconds_since(start));
  }

  void fail(SettingWork& s, const std::exception& e) const {
    if (fail_fast()) throw;
    if (s.error.empty()) s.error = error_text(e);
  }

  void decode(SampleWork& w) const {
    const auto start = std::chrono::steady_clock::now();
    const BenchmarkSample& sample = sample_of(w);
    at::Tensor image;  // decoded once for every setting that runs the method
    for (SettingWork& s : w.settings) {
      try {
        s.reused = reuse_removal(s);
        if (s.reused) continue;
        if (!image.defined()) image = read_image(sample.input).rgb;
        s.input = removal_input(sample, s.masks, image);
      } catch (const std::exception& e) {
        fail(s, e);
      }
    }
    if (needs_reference(metrics_)) {
      try {
        if (sample.gt.empty()) throw HarnessError(bench_.spec.name + "/" + sample.id + ": no ground-truth file");
        w.reference = read_image(sample.gt).rgb;
      } catch (const std::exception& e) {
        if (fail_fast()) throw;
        w.reference_error = error_text(e);
      }
    }
    pass_.timing.add("decode", seconds_since(start));
  }

  void call_method(SampleWork& w) const {
    for (SettingWork& s : w.settings) {
      if (!s.error.empty() || s.reused) continue;
      try {
        const bool warmup = pass_.first_timed_call.exchange(false);
        pass_.remover.synchronize();
        const auto start = std::chrono::steady_clock::now();
        s.result = pass_.remover.remove(s.input);
        pass_.remover.synchronize();
        const double wall = seconds_since(start);
        pass_.timing.add("method", wall);
        s.record.latency_ms = s.result.latency_ms >= 0 ? s.result.latency_ms : wall * 1000.0;
        s.record.latency_warmup = warmup && s.result.latency_ms < 0;
        append_event(pass_.run_dir, {{"event", "remove"}, {"bench", bench_.spec.name}, {"method", pass_.label},
                                     {"method_id", pass_.id}, {"masks", s.masks}, {"id", s.input.id},
                                     {"latency_ms", s.record.latency_ms}, {"latency_warmup", s.record.latency_warmup}});
      } catch (const std::exception& e) {
        fail(s, e);
      }
    }
  }

  // The method's output on disk (linked when it is exactly a file that is an 8-bit RGB PNG, else encoded) and its
  // pixels as saved, for scoring.
  void save_output(SettingWork& s) const {
    const at::Tensor output = s.result.image.to(at::kFloat).cpu();
    if (output.sizes() != s.input.image.sizes())
      throw AdapterError(pass_.label + ": sample " + s.input.id + ": output size differs from the input");
    const fs::path& source = s.result.source_file;
    if (!source.empty() && is_rgb8_png(source)) {
      link_or_copy_file_atomic(source, s.paths.output);
      s.output = output;  // the file's own decoded pixels (remover.h: source_file)
    } else {
      write_image(s.paths.output, output);
      s.output = as_written_8bit(output);
    }
    if (s.result.alpha.defined()) write_image(s.paths.alpha, s.result.alpha);
    json stages = json::object();
    for (const auto& [stage, ms] : s.result.stages_ms) stages[stage] = ms;
    write_file_atomic(s.paths.removal, json{{"latency_ms", s.record.latency_ms},
                                            {"latency_warmup", s.record.latency_warmup},
                                            {"stages_ms", stages}}.dump() + "\n");
  }

  void score(const SampleWork& w, SettingWork& s) const {
    if (metrics_.empty()) return;
    if (!w.reference_error.empty()) throw HarnessError(w.reference_error);
    const BenchmarkSample& sample = sample_of(w);
    const ImagePair files{sample.id, pass_.run_dir / s.record.output, sample.gt, setting_mask(sample, s.masks)};
    DecodedReference decoded{w.reference, {}};
    const at::Tensor& sized = w.reference.defined() ? w.reference : s.output;  // reference-free metrics: the output
    const at::Tensor& removal_mask = s.input.mask;  // the same file at the same size, read (and checked) already
    if (removal_mask.defined() && removal_mask.size(2) == sized.size(2) && removal_mask.size(3) == sized.size(3)) {
      for (const auto* metric : metrics_)
        if (metric->needs_mask()) decoded.mask = removal_mask;
    } else {
      const auto mask_start = std::chrono::steady_clock::now();
      decoded.mask = metric_mask(metrics_, files, bench_.spec.polarity, sized.size(2), sized.size(3));
      pass_.timing.add("decode", seconds_since(mask_start));
    }
    std::vector<double> seconds;
    std::vector<metrics::ImageMetric::Terms> terms;
    const std::vector<double> values =
        score_decoded(metrics_, s.output, decoded, files, at::Device(pass_.plan.config.device), &seconds, &terms);
    for (size_t k = 0; k < metrics_.size(); ++k) {
      const std::string& name = metrics_[k]->spec().name;
      s.record.metrics[name] = values[k];
      for (const auto& [part, value] : terms[k]) s.record.metric_terms[name][part] = value;
      pass_.timing.add(name, seconds[k]);
    }
  }

  void finish(SampleWork& w) const {
    const std::string& id = sample_of(w).id;
    for (const SettingWork& s : w.settings)
      if (s.input.image.defined()) {
        thumbnail(reports::sample_thumbnail(bench_.spec.name, "input", id), s.input.image);
        break;
      }
    thumbnail(reports::sample_thumbnail(bench_.spec.name, "gt", id), w.reference);
    for (SettingWork& s : w.settings) {
      if (s.error.empty()) {
        try {
          if (!s.reused) {
            const auto start = std::chrono::steady_clock::now();
            save_output(s);
            pass_.timing.add("write", seconds_since(start));
          }
          thumbnail(reports::output_thumbnail(s.record.output), s.output);
          score(w, s);
        } catch (const std::exception& e) {
          fail(s, e);
        }
      }
      if (!s.error.empty()) {
        s.record.status = "failed";
        s.record.error = s.error;
        s.record.metrics.clear();
        log::warn(bench_.spec.name + "/" + sample_of(w).id + " (" + pass_.label + ", " + s.masks +
                  " mask): " + s.error);
      }
      const auto start = std::chrono::steady_clock::now();
      write_file_atomic(s.paths.record, to_json(s.record).dump() + "\n");
      pass_.timing.add("write", seconds_since(start));
      pass_.progress.advance();
    }
  }

  const MethodPass& pass_;
  const BenchPlan& bench_;
  std::vector<const metrics::ImageMetric*> metrics_;
};

}  // namespace

void run_method_on_bench(const MethodPass& pass, const BenchPlan& bench) { BenchPass(pass, bench).run(); }

void append_event(const fs::path& run_dir, const json& event) {
  const std::string line = event.dump() + "\n";
  const int fd = ::open((run_dir / "events.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
  ::close(fd);
}

}  // namespace osor::harness
