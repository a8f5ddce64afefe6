#include "metrics/registry.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "metrics/cmmd.h"
#include "metrics/error.h"
#include "metrics/fid.h"
#include "metrics/lpips.h"
#include "metrics/psnr.h"
#include "metrics/ssim.h"
#include "model/weights_manifest.h"

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
      {"lpips", "LPIPS v0.1, AlexNet trunk (--lpips-net vgg for VGG16), inputs in [-1,1] (richzhang/lpips 0.1.4)", true,
       {"alexnet", "lpips-alex"}},
      {"fid", "FID on Inception pool3, float64 statistics, scipy-sqrtm semantics (pytorch-fid 0.3)", false,
       {"inception-fid"}},
      {"cmmd", "CMMD: MMD (sigma 10, x1000, biased) of CLIP ViT-L/14@336 embeddings (google-research cmmd)", false,
       {"clip-config", "clip-weights"}},
  };
  return entries;
}

bool is_image_metric(const std::string& name) {
  for (const auto& e : metric_entries())
    if (e.name == name) return e.per_image;
  return false;
}

namespace {

std::string known_metrics() {
  std::string known;
  for (const auto& e : metric_entries()) known += (known.empty() ? "" : ", ") + e.name;
  return known;
}

}  // namespace

bool is_set_metric(const std::string& name) {
  for (const auto& e : metric_entries())
    if (e.name == name) return !e.per_image;
  return false;
}

std::unique_ptr<ImageMetric> make_image_metric(const std::string& name, const PixelOptions& options,
                                               const NetworkOptions& network) {
  if (name == "psnr") return std::make_unique<PsnrMetric>(options);
  if (name == "ssim") return std::make_unique<SsimMetric>(SsimWindow::Gaussian, options);
  if (name == "ssim-uniform") return std::make_unique<SsimMetric>(SsimWindow::Uniform, options);
  if (name == "lpips") {
    if (options.region != Region::Full || options.channels != Channels::Rgb)
      throw MetricError("lpips scores whole RGB images (no --region or --channels y)");
    return make_lpips_metric(network);
  }
  if (is_set_metric(name))
    throw MetricError("metric '" + name + "' compares two image sets, not image pairs");
  throw MetricError("unknown metric '" + name + "' (known: " + known_metrics() + ")");
}

std::unique_ptr<SetMetric> make_set_metric(const std::string& name, const NetworkOptions& network) {
  if (name == "fid") return make_fid_metric(network);
  if (name == "cmmd") return make_cmmd_metric(network);
  if (is_image_metric(name)) throw MetricError("metric '" + name + "' is per image, not a set metric");
  throw MetricError("unknown metric '" + name + "' (known: " + known_metrics() + ")");
}

std::vector<std::string> metric_weights_ids(const std::string& name, const NetworkOptions& network) {
  if (name == "lpips") return lpips_weights_ids(network.lpips_net);
  if (is_set_metric(name)) return extractor_weights_ids(make_set_metric(name, network)->extractor());
  return {};
}

std::vector<std::string> missing_weights(const std::string& name, const NetworkOptions& network) {
  std::vector<std::string> lines;
  for (const std::string& id : metric_weights_ids(name, network))
    if (!std::filesystem::is_regular_file(network.weights_dir / model::weights_file_info(id).relative_path))
      lines.push_back(model::missing_weights_message(network.weights_dir, id));
  return lines;
}

}  // namespace osor::metrics
