#include "metrics/fid.h"

#include <ATen/ATen.h>

#include "metrics/frechet_distance.h"

namespace osor::metrics {
namespace {

class FidMetric final : public SetMetric {
 public:
  explicit FidMetric(const MetricSetup& setup) : SetMetric(setup), method_(parse_sqrtm_method(setup.network.sqrtm)) {}
  double evaluate(const at::Tensor& pred, const at::Tensor& ref) const override {
    const GaussianStatistics a = gaussian_statistics(pred, "predictions");
    const GaussianStatistics b = gaussian_statistics(ref, "references");
    return frechet_distance(a, b, method_);
  }

 private:
  SqrtmMethod method_;
};

}  // namespace

std::unique_ptr<SetMetric> make_fid_metric(const MetricSetup& setup) { return std::make_unique<FidMetric>(setup); }

std::unique_ptr<SetMetric> make_fid_metric(const NetworkOptions& options) { return make_set_metric("fid", options); }

}  // namespace osor::metrics
