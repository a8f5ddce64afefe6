#include "metrics/registry.h"

#include <ATen/ATen.h>

#include "metrics/error.h"
#include "metrics/psnr.h"
#include "metrics/ssim.h"

namespace osor::metrics {
namespace {

std::string pixel_suffix(const PixelOptions& options) {
  return to_string(options.channels) + "," + to_string(options.region);
}

class PsnrMetric final : public ImageMetric {
 public:
  explicit PsnrMetric(const PixelOptions& options) : options_(options) {
    spec_ = {"psnr", true, "psnr[skimage-0.19,8bit,data_range=255," + pixel_suffix(options) + "]", 1};
  }
  const MetricSpec& spec() const override { return spec_; }
  bool needs_mask() const override { return options_.region != Region::Full; }
  at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const override {
    return psnr(pred, ref, options_, mask);
  }

 private:
  PixelOptions options_;
  MetricSpec spec_;
};

class SsimMetric final : public ImageMetric {
 public:
  SsimMetric(SsimWindow window, const PixelOptions& options) {
    options_.window = window;
    options_.pixels = options;
    const bool gaussian = window == SsimWindow::Gaussian;
    spec_ = {gaussian ? "ssim" : "ssim-uniform", true,
             std::string(gaussian ? "ssim[skimage-0.19,gaussian-1.5,population-cov,"
                                  : "ssim[skimage-0.19,uniform-7,sample-cov,") +
                 pixel_suffix(options) + "]",
             1};
  }
  const MetricSpec& spec() const override { return spec_; }
  bool needs_mask() const override { return options_.pixels.region != Region::Full; }
  at::Tensor evaluate(const at::Tensor& pred, const at::Tensor& ref, const at::Tensor& mask) const override {
    return ssim(pred, ref, options_, mask);
  }

 private:
  SsimOptions options_;
  MetricSpec spec_;
};

}  // namespace

const std::vector<MetricEntry>& metric_entries() {
  static const std::vector<MetricEntry> entries = {
      {"psnr", "PSNR in dB on 8-bit values, data range 255 (scikit-image)", true},
      {"ssim", "SSIM, 11x11 Gaussian sigma 1.5, population covariance (Wang et al. / scikit-image)", true},
      {"ssim-uniform", "SSIM, 7x7 uniform window, sample covariance (scikit-image defaults)", true},
  };
  return entries;
}

bool is_image_metric(const std::string& name) {
  for (const auto& e : metric_entries())
    if (e.name == name) return e.per_image;
  return false;
}

std::unique_ptr<ImageMetric> make_image_metric(const std::string& name, const PixelOptions& options) {
  if (name == "psnr") return std::make_unique<PsnrMetric>(options);
  if (name == "ssim") return std::make_unique<SsimMetric>(SsimWindow::Gaussian, options);
  if (name == "ssim-uniform") return std::make_unique<SsimMetric>(SsimWindow::Uniform, options);
  std::string known;
  for (const auto& e : metric_entries()) known += (known.empty() ? "" : ", ") + e.name;
  throw MetricError("unknown metric '" + name + "' (known: " + known + ")");
}

}  // namespace osor::metrics
