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

at::Tensor metric_mask(const std::vector<const metrics::ImageMetric*>& metrics, const ImagePair& files,
                       MaskPolarity polarity, int64_t height, int64_t width) {
  for (const auto* metric : metrics) {
    if (!metric->needs_mask()) continue;
    const std::string region = metrics::to_string(metric->pixels().region);
    if (files.mask.empty())
      throw HarnessError("region '" + region + "' needs --mask (a mask for image " + files.pred.string() + ")");
    at::Tensor mask = read_mask(files.mask, polarity, height, width);
    if (mask.sum().item<double>() == 0)
      throw HarnessError(files.mask.string() + ": mask has no object pixels (nothing to score in region '" + region +
                         "')");
    return mask;
  }
  return {};
}

DecodedReference decode_reference(const std::vector<const metrics::ImageMetric*>& metrics, const ImagePair& files,
                                  MaskPolarity polarity) {
  DecodedReference decoded;
  decoded.ref = read_image(files.ref).rgb;
  decoded.mask = metric_mask(metrics, files, polarity, decoded.ref.size(2), decoded.ref.size(3));
  return decoded;
}

std::vector<double> score_decoded(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                                  const DecodedReference& decoded, const ImagePair& files, const at::Device& device,
                                  std::vector<double>* metric_seconds) {
  if (pred.sizes() != decoded.ref.sizes())
    throw HarnessError(files.pred.string() + " is " + size_of(pred) + " but " + files.ref.string() + " is " +
                       size_of(decoded.ref) + ": prediction and reference differ in size");
  const at::Tensor pred_on = pred.to(device), ref_on = decoded.ref.to(device);
  const at::Tensor mask = decoded.mask.defined() ? decoded.mask.to(device) : at::Tensor();
  std::vector<double> values;
  if (metric_seconds) metric_seconds->assign(metrics.size(), 0.0);
  for (size_t k = 0; k < metrics.size(); ++k) {
    const auto* metric = metrics[k];
    const auto start = std::chrono::steady_clock::now();
    double value = 0;
    try {
      value = metric->evaluate(pred_on, ref_on, metric->needs_mask() ? mask : at::Tensor())[0].item<double>();
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
                               const ImagePair& files, MaskPolarity polarity, const at::Device& device) {
  return score_decoded(metrics, pred, decode_reference(metrics, files, polarity), files, device);
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
  return {{"metric", result.metric},
          {"channels", metrics::to_string(result.pixels.channels)},
          {"region", metrics::to_string(result.pixels.region)},
          {"n", result.per_image.size()},
          {"mean", json_number(result.mean)},
          {"per_image", per_image}};
}

}  // namespace osor::harness
