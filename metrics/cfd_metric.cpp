#include "metrics/cfd_metric.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/cfd.h"
#include "metrics/error.h"
#include "metrics/networks/bit_image_processor.h"
#include "metrics/networks/dinov2.h"
#include "metrics/networks/sam.h"
#include "metrics/networks/sam_mask_generator.h"

namespace osor::metrics {

namespace {

SamConfig sam_config_for(const std::filesystem::path& weights) {
  std::filesystem::path sidecar = weights;
  sidecar.replace_extension(".json");
  if (!std::filesystem::is_regular_file(sidecar)) return SamConfig::vit_h();
  std::ifstream in(sidecar);
  std::stringstream text;
  text << in.rdbuf();
  return SamConfig::from_json_text(text.str(), sidecar.string());
}

class CfdMetric final : public ImageMetric {
 public:
  explicit CfdMetric(const MetricSetup& setup)
      : ImageMetric(setup),
        mode_(cfd_mode_from_string(setup.network.cfd_mode)),
        sam_(Sam::load(sam_config_for(setup.weights_files.at(0)), setup.weights_files.at(0), c10::Device(setup.network.device))),
        dinov2_(Dinov2::load(setup.weights_files.at(1), setup.weights_files.at(3), c10::Device(setup.network.device))),
        processor_(BitProcessorConfig::from_json_file(setup.weights_files.at(2))) {}

  bool needs_mask() const override { return true; }
  bool needs_reference() const override { return false; }

  at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const override {
    return evaluate_with_terms(pred, ref, mask, nullptr);
  }

  at::Tensor evaluate_with_terms(const at::Tensor& pred, const at::Tensor&, const at::Tensor& mask,
                                 Terms* terms) const override {
    if (!mask.defined()) throw MetricError("cfd needs the object mask");
    if (pred.dim() != 4 || mask.dim() != 4 || mask.size(0) != pred.size(0))
      throw MetricError("cfd: expected predictions [N,3,H,W] and masks [N,1,H,W]");
    auto decoder = sam_prompt_decoder(sam_);
    const CfdScorer scorer(dinov2_, processor_, [&](const at::Tensor& picture) { return generate_sam_masks(picture, *decoder); }, mode_);
    at::Tensor values = at::empty({pred.size(0)}, at::kDouble);
    if (terms) terms->clear();
    for (int64_t i = 0; i < pred.size(0); ++i) {
      const CfdPicture p = scorer.score(pred[i], mask[i][0].gt(0.5));
      values[i] = p.score;
      if (!terms) continue;
      for (size_t c = 0; c < p.components.size(); ++c) {
        const std::string prefix = "c" + std::to_string(c) + ".";
        terms->emplace_back(prefix + "value", p.components[c].value);
        for (const CfdTerm& t : p.components[c].terms) terms->emplace_back(prefix + t.name, t.distance);
      }
    }
    return values;
  }

 private:
  CfdMode mode_;
  Sam sam_;
  Dinov2 dinov2_;
  BitProcessorConfig processor_;
};

}  // namespace

std::string cfd_convention(const MetricSetup& setup) {
  const std::string mode = to_string(cfd_mode_from_string(setup.network.cfd_mode));  // checks the value
  return "cfd[" + mode + ",sam-vit-h-amg-default,dinov2-giant,hf-4.57-slow-processor]";
}

std::unique_ptr<ImageMetric> make_cfd_metric(const MetricSetup& setup) { return std::make_unique<CfdMetric>(setup); }

}  // namespace osor::metrics
