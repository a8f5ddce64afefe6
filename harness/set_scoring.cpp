#include "harness/set_scoring.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "harness/file_pairs.h"
#include "harness/image_io.h"
#include "harness/pipeline.h"
#include "metrics/registry.h"
#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/log.h"

namespace fs = std::filesystem;

namespace osor::harness {
namespace {

constexpr int64_t kMaxBatch = 32;

void require_weights(const std::string& metric, const metrics::NetworkOptions& network) {
  const auto missing = metrics::missing_weights(metric, network);
  if (missing.empty()) return;
  std::string line = metric + " skipped: " + missing.front();
  if (missing.size() > 1) line += " (and " + std::to_string(missing.size() - 1) + " more file(s))";
  throw ModelError(line);
}

void check_features_match(const metrics::SetMetric& metric, const FeatureSet& set, const fs::path& file) {
  if (!set.extractor.empty() && metrics::canonical_extractor_name(set.extractor) != metric.extractor())
    throw HarnessError(file.string() + ": features of '" + set.extractor + "', but " + metric.spec().name + " needs '" +
                       metric.extractor() + "'");
  if (!set.preprocessing.empty() && set.preprocessing != metric.preprocessing())
    throw HarnessError(file.string() + ": features preprocessed as '" + set.preprocessing + "', but " +
                       metric.spec().convention + " uses '" + metric.preprocessing() +
                       "' (pass --preprocessing " + set.preprocessing + ")");
}

}  // namespace

std::vector<fs::path> image_files(const fs::path& folder_or_file) {
  std::error_code ec;
  if (fs::is_directory(folder_or_file, ec)) return list_images(folder_or_file);
  if (!fs::exists(folder_or_file, ec)) throw HarnessError(folder_or_file.string() + ": file not found");
  return {folder_or_file};
}

FeatureSet extract_features(const metrics::FeatureExtractor& extractor, const std::vector<fs::path>& images,
                            const FeatureCache* cache, int jobs) {
  FeatureSet set;
  set.extractor = extractor.name();
  set.preprocessing = extractor.preprocessing();
  const std::string weights_hash = cache ? weights_files_hash(*cache, extractor.weights_files()) : "";
  std::vector<at::Tensor> rows(images.size()), decoded(images.size());
  std::vector<FeatureKey> keys(images.size());
  // Pending misses of one image size, extracted together.
  std::vector<size_t> pending;
  std::vector<at::Tensor> pending_images;
  const auto flush = [&] {
    if (pending.empty()) return;
    at::Tensor features;
    try {
      features = extractor.extract(at::cat(pending_images, 0));
    } catch (const Error& e) {
      throw HarnessError(images[pending.front()].string() + (pending.size() > 1 ? " (and its batch)" : "") + ": " +
                         e.what());
    }
    for (size_t k = 0; k < pending.size(); ++k) {
      rows[pending[k]] = features[static_cast<int64_t>(k)].clone();
      if (cache) cache->put(keys[pending[k]], rows[pending[k]]);
    }
    pending.clear();
    pending_images.clear();
  };
  PipelineStages stages;
  stages.prepare = [&](size_t i) {  // any thread: decode and hash
    decoded[i] = read_image(images[i]).rgb;
    if (cache) keys[i] = {image_content_hash(decoded[i]), extractor.name(), weights_hash, extractor.preprocessing()};
  };
  stages.call = [&](size_t i) {  // in order: the cache (one reader/writer at a time) and the batches
    set.names.push_back(images[i].stem().string());
    const at::Tensor image = std::move(decoded[i]);
    if (cache) {
      if (auto hit = cache->get(keys[i]); hit && hit->numel() == extractor.dim()) {
        rows[i] = *hit;
        ++set.cache_hits;
        return;
      }
    }
    if (!pending_images.empty() &&
        (pending_images.front().sizes() != image.sizes() || static_cast<int64_t>(pending.size()) >= kMaxBatch))
      flush();
    pending.push_back(i);
    pending_images.push_back(image);
  };
  run_pipeline(images.size(), jobs, /*ordered_calls=*/true, stages);
  flush();
  set.features = rows.empty() ? at::empty({0, extractor.dim()}, at::kFloat) : at::stack(rows, 0);
  return set;
}

void write_feature_file(const fs::path& path, const FeatureSet& set) {
  std::map<std::string, std::string> metadata = {{"names", nlohmann::json(set.names).dump()}};
  if (!set.extractor.empty()) metadata["extractor"] = set.extractor;
  if (!set.preprocessing.empty()) metadata["preprocessing"] = set.preprocessing;
  model::write_safetensors(path, {{"features", set.features.to(at::kCPU).contiguous()}}, metadata);
}

FeatureSet read_feature_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw HarnessError(path.string() + ": file not found");
  const auto file = model::SafetensorsFile::open(path);
  if (!file.contains("features"))
    throw HarnessError(path.string() + ": no tensor 'features' (write feature files with osor features)");
  FeatureSet set;
  const at::Tensor t = file.tensor("features");
  if (t.dim() != 2 || (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble))
    throw HarnessError(path.string() + ": 'features' must be a [N,D] F32 or F64 tensor");
  set.features = t.clone();
  const auto& metadata = file.metadata();
  if (auto it = metadata.find("names"); it != metadata.end()) {
    try {
      set.names = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
    } catch (const std::exception&) {
      throw HarnessError(path.string() + ": metadata 'names' is not a JSON list of strings");
    }
    if (static_cast<int64_t>(set.names.size()) != t.size(0))
      throw HarnessError(path.string() + ": metadata 'names' lists " + std::to_string(set.names.size()) +
                         " stems for " + std::to_string(t.size(0)) + " feature rows");
  }
  if (auto it = metadata.find("extractor"); it != metadata.end()) set.extractor = it->second;
  if (auto it = metadata.find("preprocessing"); it != metadata.end()) set.preprocessing = it->second;
  return set;
}

SetScoreResult score_image_sets(const fs::path& pred, const fs::path& ref, const SetScoreRequest& request) {
  const auto metric = metrics::make_set_metric(request.metric, request.network);
  require_weights(request.metric, request.network);
  const auto pred_files = image_files(pred);
  const auto ref_files = image_files(ref);
  metrics::NetworkOptions network = request.network;
  network.preprocessing = metric->preprocessing();
  const auto extractor = metrics::make_feature_extractor(metric->extractor(), network);
  std::optional<FeatureCache> cache;
  if (request.cache_dir) cache.emplace(*request.cache_dir);
  const int jobs = resolve_jobs(0);
  const FeatureSet p = extract_features(*extractor, pred_files, cache ? &*cache : nullptr, jobs);
  const FeatureSet r = extract_features(*extractor, ref_files, cache ? &*cache : nullptr, jobs);
  SetScoreResult result{metric->spec().name, metric->spec().convention, p.features.size(0), r.features.size(0), 0,
                        p.cache_hits + r.cache_hits};
  result.value = metric->evaluate(p.features, r.features);
  return result;
}

SetScoreResult score_feature_files(const fs::path& pred, const fs::path& ref, const SetScoreRequest& request) {
  const auto metric = metrics::make_set_metric(request.metric, request.network);
  const FeatureSet p = read_feature_file(pred);
  const FeatureSet r = read_feature_file(ref);
  check_features_match(*metric, p, pred);
  check_features_match(*metric, r, ref);
  if (p.features.size(1) != r.features.size(1))
    throw HarnessError(pred.string() + " has " + std::to_string(p.features.size(1)) + "-d features but " +
                       ref.string() + " has " + std::to_string(r.features.size(1)) + "-d");
  SetScoreResult result{metric->spec().name, metric->spec().convention, p.features.size(0), r.features.size(0), 0, 0};
  result.value = metric->evaluate(p.features, r.features);
  return result;
}

nlohmann::json set_score_json(const SetScoreResult& result) {
  return {{"metric", result.metric},
          {"convention", result.convention},
          {"n_pred", result.n_pred},
          {"n_ref", result.n_ref},
          {"value", std::isfinite(result.value) ? nlohmann::json(result.value) : nlohmann::json("nan")}};
}

}  // namespace osor::harness
