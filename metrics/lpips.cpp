#include "metrics/lpips.h"

#include <ATen/ATen.h>

#include "metrics/error.h"

namespace osor::metrics {
namespace {

class LpipsMetric final : public ImageMetric {
 public:
  explicit LpipsMetric(const MetricSetup& setup)
      : ImageMetric(setup),
        net_(LpipsNet::load(lpips_trunk(setup.network.lpips_net), setup.weights_files,
                            c10::Device(setup.network.device))) {}
  at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const override {
    const int64_t min_side = net_.trunk() == LpipsTrunk::Alex ? 31 : 16;
    if (pred.size(-1) < min_side || pred.size(-2) < min_side)
      throw MetricError("image is " + std::to_string(pred.size(-2)) + "x" + std::to_string(pred.size(-1)) +
                        "; LPIPS " + to_string(net_.trunk()) + " needs at least " + std::to_string(min_side) +
                        " px on each side");
    // The reference calls forward(in0 = reference, in1 = prediction).
    return net_.forward(ref, pred).to(at::kCPU, at::kDouble);
  }

 private:
  LpipsNet net_;
};

}  // namespace

LpipsTrunk lpips_trunk(const std::string& net) {
  if (net == "alex") return LpipsTrunk::Alex;
  if (net == "vgg") return LpipsTrunk::Vgg;
  throw MetricError("unknown LPIPS network '" + net + "' (known: alex, vgg)");
}

std::unique_ptr<ImageMetric> make_lpips_metric(const MetricSetup& setup) {
  return std::make_unique<LpipsMetric>(setup);
}

}  // namespace osor::metrics
