#include "metrics/cmmd.h"

#include <ATen/ATen.h>

#include "metrics/mmd.h"

namespace osor::metrics {
namespace {

class CmmdMetric final : public SetMetric {
 public:
  explicit CmmdMetric(const MetricSetup& setup) : SetMetric(setup) {
    mmd_.precision = setup.network.mmd_float64 ? MmdPrecision::Float64 : MmdPrecision::Float32Kernel;
  }
  double evaluate(const at::Tensor& pred, const at::Tensor& ref) const override { return mmd(pred, ref, mmd_); }

 private:
  MmdOptions mmd_;
};

}  // namespace

std::unique_ptr<SetMetric> make_cmmd_metric(const MetricSetup& setup) { return std::make_unique<CmmdMetric>(setup); }

}  // namespace osor::metrics
