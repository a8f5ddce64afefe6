#include "harness/scoring.h"

#include <ATen/ATen.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "harness/error.h"

namespace osor::harness {
namespace {

std::string size_of(const at::Tensor& image) {
  return std::to_string(image.size(-2)) + "x" + std::to_string(image.size(-1));
}

}  // namespace

std::vector<double> score_pair(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                               const ImagePair& files, MaskPolarity polarity, const at::Device& device) {
  bool need_ref = false;
  for (const auto* metric : metrics) need_ref = need_ref || metric->needs_reference();
  at::Tensor ref;
  if (need_ref) {
    ref = read_image(files.ref).rgb;
    if (pred.sizes() != ref.sizes())
      throw HarnessError(files.pred.string() + " is " + size_of(pred) + " but " + files.ref.string() + " is " +
                         size_of(ref) + ": prediction and reference differ in size");
  }
  at::Tensor mask;
  for (const auto* metric : metrics) {
    if (!metric->needs_mask() || mask.defined()) continue;
    // A metric over a region names it; a metric defined on the object mask (cfd) names itself.
    const std::string what = metric->pixels().region != metrics::Region::Full
                                 ? "region '" + std::string(metrics::to_string(metric->pixels().region)) + "'"
                                 : "metric " + metric->spec().name;
    if (files.mask.empty()) throw HarnessError(what + " needs --mask (a mask for image " + files.pred.string() + ")");
    mask = read_mask(files.mask, polarity, pred.size(2), pred.size(3));
    if (mask.sum().item<double>() == 0)
      throw HarnessError(files.mask.string() + ": mask has no object pixels (nothing to score for " + what + ")");
    mask = mask.to(device);
  }
  const at::Tensor pred_on = pred.to(device), ref_on = need_ref ? ref.to(device) : at::Tensor();
  std::vector<double> values;
  for (const auto* metric : metrics) {
    double value = 0;
    try {
      value = metric->evaluate(pred_on, ref_on, metric->needs_mask() ? mask : at::Tensor())[0].item<double>();
    } catch (const Error& e) {
      throw HarnessError(files.pred.string() + ": " + e.what());
    }
    if (std::isnan(value)) throw HarnessError(files.pred.string() + ": " + metric->spec().name + " is NaN");
    values.push_back(value);
  }
  return values;
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
    const double value = score_pair({metric.get()}, read_image(pair.pred).rgb, pair, request.polarity, device)[0];
    result.per_image.emplace_back(pair.stem, value);
    if (auto terms = metric->last_terms(); !terms.empty()) result.terms.emplace_back(pair.stem, std::move(terms));
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
