#include "metrics/ssim_metric.h"

namespace osor::metrics {
namespace {

class SsimMetric final : public ImageMetric {
 public:
  SsimMetric(const MetricSetup& setup, SsimWindow window) : ImageMetric(setup) {
    options_.window = window;
    options_.pixels = setup.pixels;
  }
  at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const override {
    return ssim(pred, ref, options_, mask);
  }

 private:
  SsimOptions options_;
};

}  // namespace

std::unique_ptr<ImageMetric> make_ssim_metric(const MetricSetup& setup, SsimWindow window) {
  return std::make_unique<SsimMetric>(setup, window);
}

}  // namespace osor::metrics
