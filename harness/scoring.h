// Per-image metrics over explicit file pairs: what `osor score` computes for psnr, ssim, ssim-uniform and lpips
// (set-level metrics: harness/set_scoring.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <utility>
#include <vector>

#include "harness/file_pairs.h"
#include "harness/image_io.h"
#include "metrics/feature_extractor.h"
#include "metrics/pixel_options.h"
#include "metrics/registry.h"

namespace osor::harness {

struct ScoreRequest {
  std::string metric = "psnr";
  metrics::PixelOptions pixels;
  MaskPolarity polarity = MaskPolarity::WhiteIsObject;
  std::string device = "cpu";
  metrics::NetworkOptions network;  // network metrics (lpips): weights folder, trunk
};

struct ScoreResult {
  std::string metric, convention;
  metrics::PixelOptions pixels;
  std::vector<std::pair<std::string, double>> per_image;  // stem → value, in pair order
  // stem → the metric's named parts of that value (cfd's per-component terms); empty for metrics without parts
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, double>>>> terms;
  double mean = 0;
};

// The one pair scorer of `osor score` and `osor eval`: `pred` (the decoded prediction, named by files.pred in
// errors) against the reference files.ref, each metric in order. Reads the reference only when a metric needs one
// (cfd does not) and checks that both have one size; reads the mask (files.mask, at that size) when a metric's
// region is not the whole image or the metric is defined on the object mask, and refuses a missing or empty one;
// refuses a NaN value. `terms`, when given, receives each metric's named parts (metrics::ImageMetric::Terms).
// Errors (HarnessError) name the files.
std::vector<double> score_pair(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                               const ImagePair& files, MaskPolarity polarity, const at::Device& device,
                               std::vector<metrics::ImageMetric::Terms>* terms = nullptr);

// score_pair in two steps, for a caller that decodes ahead of scoring (the runner's pipeline): the files of a pair
// decoded (the reference when a metric needs one, and the mask at its size — else at height × width, the
// prediction's — when a metric needs one; checked as score_pair does), then the scores of a prediction against
// them. `metric_seconds` and `terms`, when given, receive each metric's time and named parts.
struct DecodedReference {
  at::Tensor ref, mask;  // each undefined when no metric needs it
};
DecodedReference decode_reference(const std::vector<const metrics::ImageMetric*>& metrics, const ImagePair& files,
                                  MaskPolarity polarity, int64_t height, int64_t width);
// True when a metric of the list compares against a reference image.
bool needs_reference(const std::vector<const metrics::ImageMetric*>& metrics);
// The mask files.mask at height × width when a metric needs one (else undefined); refuses a missing or empty mask,
// naming the files.
at::Tensor metric_mask(const std::vector<const metrics::ImageMetric*>& metrics, const ImagePair& files,
                       MaskPolarity polarity, int64_t height, int64_t width);
std::vector<double> score_decoded(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                                  const DecodedReference& decoded, const ImagePair& files, const at::Device& device,
                                  std::vector<double>* metric_seconds = nullptr,
                                  std::vector<metrics::ImageMetric::Terms>* terms = nullptr);

// Reads every pair and scores it with score_pair.
ScoreResult score_pairs(const std::vector<ImagePair>& pairs, const ScoreRequest& request);

// {"metric", "channels", "region", "n", "mean", "per_image": {stem: value}} (+ "terms": {stem: {part: value}} for
// metrics with parts); infinities as "inf".
nlohmann::json score_json(const ScoreResult& result);

// A JSON number, or the strings "inf" / "-inf" / "nan" for non-finite values.
nlohmann::json json_number(double value);

}  // namespace osor::harness
