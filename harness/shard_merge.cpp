#include "harness/shard_merge.h"

#include <ATen/ATen.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/run_assembly.h"
#include "harness/run_folder.h"
#include "harness/run_layout.h"
#include "harness/runner.h"
#include "harness/set_scoring.h"
#include "metrics/registry.h"
#include "model/log.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace osor::harness {
namespace {

struct ShardRun {
  fs::path dir;
  EvalConfig config;
  json meta;
  std::vector<std::string> method_folders;  // by method index
};

ShardRun read_shard(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "config.json", ec)) throw HarnessError(dir.string() + ": not a run folder (no config.json)");
  ShardRun shard{dir, config_from_json(read_json_file(dir / "config.json")), json(), {}};
  if (shard.config.shard.whole())
    throw HarnessError(dir.string() + ": not a shard (the run was made without --shard)");
  if (!fs::exists(dir / "run_meta.json", ec))
    throw HarnessError(dir.string() + ": shard " + shard.config.shard.text() +
                       " did not finish (no run_meta.json); finish it with `osor eval --out " + dir.string() +
                       " --resume`");
  shard.meta = read_json_file(dir / "run_meta.json");
  try {
    for (const auto& m : shard.meta.at("methods")) shard.method_folders.push_back(method_folder_name(m.at("id")));
  } catch (const json::exception& e) {
    throw HarnessError((dir / "run_meta.json").string() + ": " + e.what());
  }
  return shard;
}

// What must be equal across the shards of one evaluation.
json comparable_configuration(const ShardRun& shard) {
  json c = config_to_json(shard.config);
  c.erase("shard");
  c.erase("cache_dir");
  const std::string device = c["device"];
  c["device"] = device.substr(0, device.find(':'));  // cuda:0 and cuda:1 are the same kind of machine
  return json{{"config.json", c},
              {"run_meta.json methods", shard.meta.value("methods", json())},
              {"run_meta.json metrics", shard.meta.value("metrics", json())},
              {"run_meta.json benches", shard.meta.value("benches", json())}};
}

void check_same_evaluation(const std::vector<ShardRun>& shards) {
  const json first = comparable_configuration(shards.front());
  std::string differences;
  for (size_t i = 1; i < shards.size(); ++i) {
    const json other = comparable_configuration(shards[i]);
    for (const auto& [file, values] : first.items()) {
      const json& theirs_all = other[file];
      if (theirs_all == values) continue;
      if (!values.is_object() || !theirs_all.is_object()) {
        differences += "\n  " + file + ": " + shards.front().dir.string() + " has " + values.dump() + ", " +
                       shards[i].dir.string() + " has " + theirs_all.dump();
        continue;
      }
      for (const auto& [key, value] : values.items()) {
        const json theirs = theirs_all.value(key, json());
        if (theirs == value) continue;
        differences += "\n  " + file + " " + key + ": " + shards.front().dir.string() + " has " + value.dump() + ", " +
                       shards[i].dir.string() + " has " + theirs.dump();
      }
    }
  }
  if (!differences.empty()) throw HarnessError("these runs are not shards of one evaluation:" + differences);
}

// The shards by index, 0..N-1, each exactly once.
std::vector<const ShardRun*> check_partition(const std::vector<ShardRun>& shards) {
  const int count = shards.front().config.shard.count;
  std::vector<const ShardRun*> by_index(static_cast<size_t>(count), nullptr);
  std::string given;
  for (const auto& s : shards) {
    given += (given.empty() ? "" : ", ") + s.config.shard.text() + " " + s.dir.string();
    if (s.config.shard.count != count)
      throw HarnessError(s.dir.string() + " is shard " + s.config.shard.text() + " but " + shards.front().dir.string() +
                         " is shard " + shards.front().config.shard.text() + ": shards of one merge share N");
    const ShardRun*& slot = by_index[static_cast<size_t>(s.config.shard.index)];
    if (slot) throw HarnessError("shard " + s.config.shard.text() + " given twice: " + slot->dir.string() + " and " + s.dir.string());
    slot = &s;
  }
  std::string missing;
  for (int k = 0; k < count; ++k)
    if (!by_index[static_cast<size_t>(k)]) missing += (missing.empty() ? "" : ", ") + std::to_string(k) + "/" + std::to_string(count);
  if (!missing.empty()) throw HarnessError("shard(s) " + missing + " missing (given: " + given + ")");
  return by_index;
}

SamplePaths item_paths(const ShardRun& shard, const WorkItem& item) {
  return sample_paths(cell_dirs(shard.dir, item.bench, shard.method_folders[item.method], item.masks), item.sample_id);
}

std::string item_text(const ShardRun& shard, const WorkItem& item) {
  return item.bench + "/" + shard.meta["methods"][item.method].value("label", "?") + "/" + item.masks + "/" + item.sample_id;
}

// Every item finished by its owner and by no other shard. Returns, by item number, whether its sample was scored
// ("ok"), read once here for the set metrics.
std::vector<bool> check_coverage(const std::vector<const ShardRun*>& shards, const std::vector<WorkItem>& items) {
  std::vector<std::vector<std::string>> unfinished(shards.size());
  std::vector<bool> scored(items.size(), false);
  std::error_code ec;
  for (const WorkItem& item : items) {
    const size_t owner = static_cast<size_t>(item.number % static_cast<int64_t>(shards.size()));
    const auto record = read_finished_record(item_paths(*shards[owner], item).record);
    if (!record) unfinished[owner].push_back(item_text(*shards[owner], item));
    else scored[static_cast<size_t>(item.number)] = record->status == "ok";
    for (size_t k = 0; k < shards.size(); ++k)
      if (k != owner && fs::exists(item_paths(*shards[k], item).record, ec))
        throw HarnessError(shards[k]->dir.string() + " (shard " + shards[k]->config.shard.text() + ") holds " +
                           item_text(*shards[k], item) + ", which belongs to shard " + shards[owner]->config.shard.text() +
                           " (" + shards[owner]->dir.string() + "): the shards overlap");
  }
  std::string problems;
  for (size_t k = 0; k < shards.size(); ++k)
    if (!unfinished[k].empty())
      problems += "\n  " + shards[k]->dir.string() + " (shard " + shards[k]->config.shard.text() + "): " +
                  std::to_string(unfinished[k].size()) + " work item(s) not finished, e.g. " + unfinished[k].front() +
                  "; finish it with `osor eval --out " + shards[k]->dir.string() + " --resume`";
  if (!problems.empty()) throw HarnessError("the shards do not cover the evaluation:" + problems);
  return scored;
}

void link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::exists(from, ec)) return;
  fs::create_directories(to.parent_path());
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void copy_items(const std::vector<const ShardRun*>& shards, const std::vector<WorkItem>& items, const fs::path& out) {
  for (const WorkItem& item : items) {
    const ShardRun& owner = *shards[static_cast<size_t>(item.number % static_cast<int64_t>(shards.size()))];
    const SamplePaths from = item_paths(owner, item);
    const SamplePaths to = sample_paths(cell_dirs(out, item.bench, owner.method_folders[item.method], item.masks), item.sample_id);
    link_or_copy(from.output, to.output);
    link_or_copy(from.alpha, to.alpha);
    link_or_copy(from.removal, to.removal);
    link_or_copy(from.record, to.record);
  }
  std::string events;
  for (const ShardRun* shard : shards) {
    std::ifstream in(shard->dir / "events.jsonl", std::ios::binary);
    events.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  write_file_atomic(out / "events.jsonl", events);
}

// ---- Set metrics from the shards' features ----

// Feature rows by sample id, gathered from one file per shard; a shard without the file adds nothing.
class FeatureRows {
 public:
  void add(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return;
    const FeatureSet set = read_feature_file(file);
    for (size_t i = 0; i < set.names.size(); ++i) rows_[set.names[i]] = set.features[static_cast<int64_t>(i)];
  }
  // The rows of `ids` in that order; HarnessError naming the first id without a row.
  at::Tensor stack(const std::vector<std::string>& ids, const std::string& what) const {
    std::vector<at::Tensor> rows;
    for (const auto& id : ids) {
      const auto it = rows_.find(id);
      if (it == rows_.end())
        throw HarnessError("no " + what + " features of sample " + id + " in the shards (its shard's feature "
                           "extraction failed: see that shard's log, resume it, and merge again)");
      rows.push_back(it->second);
    }
    return at::stack(rows, 0).to(at::kFloat);
  }

 private:
  std::map<std::string, at::Tensor> rows_;
};

struct MergeContext {
  const std::vector<const ShardRun*>& shards;
  const std::vector<WorkItem>& items;
  const std::vector<bool>& scored;  // by item number (check_coverage)
  fs::path out;
};

// One set metric over one cell of the merged run: its scored samples' rows against the benchmark's reference rows.
void merge_set_cell(const MergeContext& c, const metrics::SetMetric& metric, const at::Tensor& reference,
                    const std::string& bench, size_t method, const std::string& masks) {
  const std::string key = features_key(metric.extractor(), metric.preprocessing());
  const std::string& folder = c.shards.front()->method_folders[method];
  const CellDirs dirs = cell_dirs(c.out, bench, folder, masks);
  std::vector<std::string> ok;
  int failed = 0;
  for (const WorkItem& item : c.items) {
    if (item.bench != bench || item.method != method || item.masks != masks) continue;
    if (c.scored[static_cast<size_t>(item.number)]) ok.push_back(item.sample_id);
    else ++failed;
  }
  const std::string name = metric.spec().name;
  try {
    if (ok.empty()) throw HarnessError("no sample of this setting was removed and scored successfully");
    if (!reference.defined()) throw HarnessError("no reference features");
    FeatureRows rows;
    for (const ShardRun* shard : c.shards) rows.add(shard_features_file(shard->dir, bench, folder, masks, key));
    write_set_cell_value(dirs, name, metric.evaluate(rows.stack(ok, "output"), reference), static_cast<int>(ok.size()), failed);
  } catch (const std::exception& e) {
    log::warn(dirs.records.string() + ": " + name + " failed: " + e.what());
    write_set_cell_failure(dirs, name, name + ": " + e.what(), failed + static_cast<int>(ok.size()));
  }
}

void merge_set_metrics(const MergeContext& c, const EvalConfig& config) {
  metrics::NetworkOptions network;
  network.weights_dir = config.weights_dir;
  network.device = config.device;
  network.cfd_mode = config.cfd_mode;
  const json& infos = c.shards.front()->meta["metrics"];
  const size_t n_methods = config.methods.size();
  std::vector<std::string> benches;  // names, in run order
  for (const WorkItem& item : c.items)
    if (benches.empty() || benches.back() != item.bench) benches.push_back(item.bench);
  for (const std::string& bench : benches)
    for (const auto& info : infos) {
      if (info.value("per_image", true)) continue;
      const auto metric = metrics::make_set_metric(info.at("name"), network);
      std::vector<std::string> gt_ids;
      std::vector<std::string> masks_of_bench;
      for (const WorkItem& item : c.items) {
        if (item.bench != bench) continue;
        if (item.method == 0 && (gt_ids.empty() || gt_ids.back() != item.sample_id) && item.has_gt) gt_ids.push_back(item.sample_id);
        if (std::find(masks_of_bench.begin(), masks_of_bench.end(), item.masks) == masks_of_bench.end()) masks_of_bench.push_back(item.masks);
      }
      at::Tensor reference;
      try {
        FeatureRows rows;
        const std::string key = features_key(metric->extractor(), metric->preprocessing());
        for (const ShardRun* shard : c.shards) rows.add(shard_reference_features_file(shard->dir, bench, key));
        reference = rows.stack(gt_ids, "reference");
      } catch (const std::exception& e) {
        log::warn(bench + ": " + metric->spec().name + ": " + e.what());
      }
      for (size_t m = 0; m < n_methods; ++m)
        for (const std::string& masks : masks_of_bench) merge_set_cell(c, *metric, reference, bench, m, masks);
    }
}

void write_merged_meta(const std::vector<const ShardRun*>& shards, const fs::path& out) {
  json meta = shards.front()->meta;
  meta["run_id"] = out.filename().string();
  json merged_from = json::array();
  for (const ShardRun* shard : shards)
    merged_from.push_back({{"shard", shard->config.shard.text()}, {"dir", fs::absolute(shard->dir).string()},
                           {"created", shard->meta.value("created", "")}, {"provenance", shard->meta.value("provenance", json())}});
  meta["merged_from"] = merged_from;
  write_file_atomic(out / "run_meta.json", meta.dump(1) + "\n");
}

}  // namespace

MergeResult merge_shards(const std::vector<fs::path>& shard_dirs, const fs::path& out_dir) {
  if (shard_dirs.empty()) throw HarnessError("osor merge: no shard folders given");
  std::vector<ShardRun> shards;
  for (const auto& dir : shard_dirs) shards.push_back(read_shard(dir));
  check_same_evaluation(shards);
  const std::vector<const ShardRun*> by_index = check_partition(shards);
  EvalConfig config = by_index.front()->config;
  const std::vector<WorkItem> items = work_items(config);
  const std::vector<bool> scored = check_coverage(by_index, items);

  std::error_code ec;
  if (fs::exists(out_dir, ec) && !is_empty_run_dir(out_dir))
    throw HarnessError(out_dir.string() + ": the folder exists and is not empty; choose another --out");
  fs::create_directories(out_dir);
  const RunLock lock(out_dir);
  config.shard = Shard{};
  config.out_dir = out_dir;
  write_file_atomic(out_dir / "config.json", config_to_json(config).dump(1) + "\n");
  copy_items(by_index, items, out_dir);
  merge_set_metrics({by_index, items, scored, out_dir}, config);
  write_merged_meta(by_index, out_dir);
  return {assemble_run(out_dir), out_dir};
}

}  // namespace osor::harness
