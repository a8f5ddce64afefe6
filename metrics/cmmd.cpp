#include "metrics/cmmd.h"

#include <ATen/ATen.h>

#include "metrics/error.h"
#include "metrics/mmd.h"

namespace osor::metrics {
namespace {

class CmmdMetric final : public SetMetric {
 public:
  explicit CmmdMetric(const NetworkOptions& options)
      : preprocessing_(options.preprocessing.empty() ? "cmmd" : options.preprocessing) {
    if (preprocessing_ != "cmmd" && preprocessing_ != "clip-processor")
      throw MetricError("unknown CMMD preprocessing '" + preprocessing_ + "' (known: cmmd, clip-processor)");
    mmd_.precision = options.mmd_float64 ? MmdPrecision::Float64 : MmdPrecision::Float32Kernel;
    spec_ = {"cmmd", false,
             std::string("cmmd[clip-vit-l14-336,") + (preprocessing_ == "cmmd" ? "center-crop" : "shortest-edge-crop") +
                 ",sigma=10" + (options.mmd_float64 ? ",f64" : "") + "]",
             1};
  }
  const MetricSpec& spec() const override { return spec_; }
  const std::string& extractor() const override { return extractor_; }
  const std::string& preprocessing() const override { return preprocessing_; }
  double evaluate(const at::Tensor& pred, const at::Tensor& ref) const override { return mmd(pred, ref, mmd_); }

 private:
  std::string preprocessing_;
  std::string extractor_ = "clip-vit-l14-336";
  MmdOptions mmd_;
  MetricSpec spec_;
};

}  // namespace

std::unique_ptr<SetMetric> make_cmmd_metric(const NetworkOptions& options) { return std::make_unique<CmmdMetric>(options); }

}  // namespace osor::metrics
