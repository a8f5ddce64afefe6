#include "harness/scoring.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "harness/error.h"

namespace osor::harness {
namespace {

std::string size_of(const at::Tensor& image) {
  return std::to_string(image.size(-2)) + "x" + std::to_string(image.size(-1));
}

}  // namespace

bool needs_reference(const std::vector<const metrics::ImageMetric*>& metrics) {
  for (const auto* metric : metrics)
    if (metric->needs_reference()) return true;
  return false;
}

at::Tensor metric_mask(const std::vector<const metrics::ImageMetric*>& metrics, const ImagePair& files,
                       MaskPolarity polarity, int64_t height, int64_t width) {
  for (const auto* metric : metrics) {
    if (!metric->needs_mask()) continue;
    // A metric over a region names it; a metric defined on the object mask (cfd) names itself.
    const std::string what = metric->pixels().region != metrics::Region::Full
                                 ? "region '" + std::string(metrics::to_string(metric->pixels().region)) + "'"
                                 : "metric " + metric->spec().name;
    if (files.mask.empty()) throw HarnessError(what + " needs --mask (a mask for image " + files.pred.string() + ")");
    at::Tensor mask = read_mask(files.mask, polarity, height, width);
    if (mask.sum().item<double>() == 0)
      throw HarnessError(files.mask.string() + ": mask has no object pixels (nothing to score for " + what + ")");
    return mask;
  }
  return {};
}

DecodedReference decode_reference(const std::vector<const metrics::ImageMetric*>& metrics, const ImagePair& files,
                                  MaskPolarity polarity, int64_t height, int64_t width) {
  DecodedReference decoded;
  if (needs_reference(metrics)) {
    decoded.ref = read_image(files.ref).rgb;
    height = decoded.ref.size(2);
    width = decoded.ref.size(3);
  }
  decoded.mask = metric_mask(metrics, files, polarity, height, width);
  return decoded;
}

std::vector<double> score_decoded(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                                  const DecodedReference& decoded, const ImagePair& files, const at::Device& device,
                                  std::vector<double>* metric_seconds, std::vector<metrics::ImageMetric::Terms>* terms) {
  if (decoded.ref.defined() && pred.sizes() != decoded.ref.sizes())
    throw HarnessError(files.pred.string() + " is " + size_of(pred) + " but " + files.ref.string() + " is " +
                       size_of(decoded.ref) + ": prediction and reference differ in size");
  if (!decoded.ref.defined() && needs_reference(metrics))
    throw HarnessError(files.pred.string() + ": no reference image to score against");
  const at::Tensor pred_on = pred.to(device);
  const at::Tensor ref_on = decoded.ref.defined() ? decoded.ref.to(device) : at::Tensor();
  const at::Tensor mask = decoded.mask.defined() ? decoded.mask.to(device) : at::Tensor();
  std::vector<double> values;
  if (metric_seconds) metric_seconds->assign(metrics.size(), 0.0);
  if (terms) terms->assign(metrics.size(), {});
  for (size_t k = 0; k < metrics.size(); ++k) {
    const auto* metric = metrics[k];
    const auto start = std::chrono::steady_clock::now();
    double value = 0;
    try {
      value = metric->evaluate_with_terms(pred_on, ref_on, metric->needs_mask() ? mask : at::Tensor(),
                                          terms ? &(*terms)[k] : nullptr)[0].item<double>();
    } catch (const Error& e) {
      throw HarnessError(files.pred.string() + ": " + e.what());
    }
    if (std::isnan(value)) throw HarnessError(files.pred.string() + ": " + metric->spec().name + " is NaN");
    if (metric_seconds)
      (*metric_seconds)[k] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    values.push_back(value);
  }
  return values;
}

std::vector<double> score_pair(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                               const ImagePair& files, MaskPolarity polarity, const at::Device& device,
                               std::vector<metrics::ImageMetric::Terms>* terms) {
  const DecodedReference decoded = decode_reference(metrics, files, polarity, pred.size(2), pred.size(3));
  return score_decoded(metrics, pred, decoded, files, device, nullptr, terms);
}

ScoreResult score_pairs(const std::vector<ImagePair>& pairs, const ScoreRequest& request) {
  const auto metric = metrics::make_image_metric(request.metric, request.pixels, request.network);
  const at::Device device(request.device);
  ScoreResult result;
  result.metric = metric->spec().name;
  result.convention = metric->spec().convention;
  result.pixels = request.pixels;
  double total = 0;
  for (const ImagePair& pair : pairs) {
    std::vector<metrics::ImageMetric::Terms> terms;
    const double value =
        score_pair({metric.get()}, read_image(pair.pred).rgb, pair, request.polarity, device, &terms)[0];
    result.per_image.emplace_back(pair.stem, value);
    if (!terms[0].empty()) result.terms.emplace_back(pair.stem, std::move(terms[0]));
    total += value;
  }
  result.mean = pairs.empty() ? 0.0 : total / static_cast<double>(pairs.size());
  return result;
}

nlohmann::json json_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

nlohmann::json score_json(const ScoreResult& result) {
  nlohmann::json per_image = nlohmann::json::object();
  for (const auto& [stem, value] : result.per_image) per_image[stem] = json_number(value);
  nlohmann::json j = {{"metric", result.metric},
                      {"channels", metrics::to_string(result.pixels.channels)},
                      {"region", metrics::to_string(result.pixels.region)},
                      {"n", result.per_image.size()},
                      {"mean", json_number(result.mean)},
                      {"per_image", per_image}};
  if (!result.terms.empty()) {
    nlohmann::json terms = nlohmann::json::object();
    for (const auto& [stem, parts] : result.terms)
      for (const auto& [name, value] : parts) terms[stem][name] = json_number(value);
    j["terms"] = terms;
  }
  return j;
}

}  // namespace osor::harness
