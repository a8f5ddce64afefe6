#include "metrics/psnr_metric.h"

#include "metrics/psnr.h"

namespace osor::metrics {
namespace {

class PsnrMetric final : public ImageMetric {
 public:
  explicit PsnrMetric(const MetricSetup& setup) : ImageMetric(setup), options_(setup.pixels) {}
  at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const override {
    return psnr(pred, ref, options_, mask);
  }

 private:
  PixelOptions options_;
};

}  // namespace

std::unique_ptr<ImageMetric> make_psnr_metric(const MetricSetup& setup) { return std::make_unique<PsnrMetric>(setup); }

}  // namespace osor::metrics
