#include "harness/scoring.h"

#include <ATen/ATen.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "metrics/registry.h"

namespace osor::harness {
namespace {

std::string size_of(const at::Tensor& image) {
  return std::to_string(image.size(-2)) + "x" + std::to_string(image.size(-1));
}

}  // namespace

ScoreResult score_pairs(const std::vector<ImagePair>& pairs, const ScoreRequest& request) {
  const auto metric = metrics::make_image_metric(request.metric, request.pixels, request.network);
  const at::Device device(request.device);
  ScoreResult result;
  result.metric = metric->spec().name;
  result.convention = metric->spec().convention;
  result.pixels = request.pixels;
  double total = 0;
  for (const ImagePair& pair : pairs) {
    const at::Tensor pred = read_image(pair.pred).rgb;
    const at::Tensor ref = read_image(pair.ref).rgb;
    if (pred.sizes() != ref.sizes())
      throw HarnessError(pair.pred.string() + " is " + size_of(pred) + " but " + pair.ref.string() + " is " +
                         size_of(ref) + ": prediction and reference differ in size");
    at::Tensor mask;
    if (metric->needs_mask()) {
      if (pair.mask.empty())
        throw HarnessError("region '" + metrics::to_string(request.pixels.region) + "' needs --mask (image " +
                           pair.pred.string() + ")");
      mask = read_mask(pair.mask, request.polarity, ref.size(2), ref.size(3));
      if (mask.sum().item<double>() == 0)
        throw HarnessError(pair.mask.string() + ": mask has no object pixels (nothing to score in region '" +
                           metrics::to_string(request.pixels.region) + "')");
      mask = mask.to(device);
    }
    double value = 0;
    try {
      value = metric->evaluate(pred.to(device), ref.to(device), mask)[0].item<double>();
    } catch (const Error& e) {
      throw HarnessError(pair.pred.string() + ": " + e.what());
    }
    if (std::isnan(value)) throw HarnessError(pair.pred.string() + ": " + result.metric + " is NaN");
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
