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
// errors) against the reference files.ref, each metric in order. Checks that both have one size, reads the mask
// (files.mask, at the reference's size) when a metric's region is not the whole image and refuses a missing or
// empty one, and refuses a NaN value. Errors (HarnessError) name the files.
std::vector<double> score_pair(const std::vector<const metrics::ImageMetric*>& metrics, const at::Tensor& pred,
                               const ImagePair& files, MaskPolarity polarity, const at::Device& device);

// Reads every pair and scores it with score_pair.
ScoreResult score_pairs(const std::vector<ImagePair>& pairs, const ScoreRequest& request);

// {"metric", "channels", "region", "n", "mean", "per_image": {stem: value}} (+ "terms": {stem: {part: value}} for
// metrics with parts); infinities as "inf".
nlohmann::json score_json(const ScoreResult& result);

// A JSON number, or the strings "inf" / "-inf" / "nan" for non-finite values.
nlohmann::json json_number(double value);

}  // namespace osor::harness
