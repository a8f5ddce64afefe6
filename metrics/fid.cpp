#include "metrics/fid.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "metrics/error.h"
#include "metrics/frechet_distance.h"

namespace osor::metrics {
namespace {

class FidMetric final : public SetMetric {
 public:
  explicit FidMetric(const NetworkOptions& options)
      : method_(parse_sqrtm_method(options.sqrtm)),
        preprocessing_(options.preprocessing.empty() ? "pytorch-fid" : options.preprocessing) {
    const auto& modes = extractor_entries().at(0).preprocessing_modes;
    if (std::find(modes.begin(), modes.end(), preprocessing_) == modes.end())
      throw MetricError("unknown FID preprocessing '" + preprocessing_ + "' (known: pytorch-fid, clean-fid, torchmetrics)");
    spec_ = {"fid", false, "fid[" + preprocessing_ + "," + to_string(method_) + "]", 1};
  }
  const MetricSpec& spec() const override { return spec_; }
  const std::string& extractor() const override { return extractor_; }
  const std::string& preprocessing() const override { return preprocessing_; }
  double evaluate(const at::Tensor& pred, const at::Tensor& ref) const override {
    const GaussianStatistics a = gaussian_statistics(pred, "predictions");
    const GaussianStatistics b = gaussian_statistics(ref, "references");
    return frechet_distance(a, b, method_);
  }

 private:
  SqrtmMethod method_;
  std::string preprocessing_;
  std::string extractor_ = "inception-fid";
  MetricSpec spec_;
};

}  // namespace

std::unique_ptr<SetMetric> make_fid_metric(const NetworkOptions& options) { return std::make_unique<FidMetric>(options); }

}  // namespace osor::metrics
