#include "metrics/lpips.h"

#include <ATen/ATen.h>

#include "metrics/error.h"
#include "metrics/networks/lpips_net.h"
#include "model/weights_manifest.h"

namespace osor::metrics {
namespace {

LpipsTrunk parse_trunk(const std::string& net) {
  if (net == "alex") return LpipsTrunk::Alex;
  if (net == "vgg") return LpipsTrunk::Vgg;
  throw MetricError("unknown LPIPS network '" + net + "' (known: alex, vgg)");
}

std::vector<std::filesystem::path> require_files(const NetworkOptions& options) {
  std::vector<std::filesystem::path> files;
  for (const std::string& id : lpips_weights_ids(options.lpips_net))
    files.push_back(model::require_weights_file(options.weights_dir, id));
  return files;
}

class LpipsMetric final : public ImageMetric {
 public:
  explicit LpipsMetric(const NetworkOptions& options)
      : net_(LpipsNet::load(parse_trunk(options.lpips_net), require_files(options), c10::Device(options.device))) {
    spec_ = {"lpips", false, std::string("lpips[v0.1,") + to_string(net_.trunk()) + "]", 1};
  }
  const MetricSpec& spec() const override { return spec_; }
  bool needs_mask() const override { return false; }
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
  MetricSpec spec_;
};

}  // namespace

std::vector<std::string> lpips_weights_ids(const std::string& net) {
  if (parse_trunk(net) == LpipsTrunk::Alex) return {"alexnet", "lpips-alex"};
  return {"vgg16", "lpips-vgg"};
}

std::unique_ptr<ImageMetric> make_lpips_metric(const NetworkOptions& options) {
  return std::make_unique<LpipsMetric>(options);
}

}  // namespace osor::metrics
