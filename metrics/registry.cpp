#include "metrics/registry.h"

#include <algorithm>
#include <cctype>
#include <cstddef>

#include "metrics/cfd_metric.h"
#include "metrics/cmmd.h"
#include "metrics/error.h"
#include "metrics/fid.h"
#include "metrics/frechet_distance.h"
#include "metrics/lpips.h"
#include "metrics/psnr_metric.h"
#include "metrics/ssim_metric.h"
#include "model/weights_manifest.h"

namespace osor::metrics {
namespace {

// Column values, so that a row reads without counting commas.
constexpr bool kPerImage = true, kPerSet = false;
constexpr bool kHigherIsBetter = true, kLowerIsBetter = false;
constexpr bool kChannelsAndRegion = true, kWholeRgbImages = false;
constexpr const char* kNoExtractor = "";
constexpr std::nullptr_t kNoWeights = nullptr;
constexpr bool kReferenceFree = true;

// PSNR's and SSIM's conventions end with the channels and region they were computed on.
std::string pixel_suffix(const MetricSetup& setup) {
  return to_string(setup.pixels.channels) + "," + to_string(setup.pixels.region);
}

}  // namespace

const std::vector<MetricEntry>& metric_entries() {
  // Columns: name, summary; per image?, higher is better?, version, convention under the options;
  // takes --channels/--region?, feature extractor, weights under the options, factory (per image, per set).
  static const std::vector<MetricEntry> entries = {
      {"psnr", "PSNR in dB on 8-bit values, data range 255 (scikit-image)",
       kPerImage, kHigherIsBetter, 1,
       [](const MetricSetup& s) { return "psnr[skimage-0.19,8bit,data_range=255," + pixel_suffix(s) + "]"; },
       kChannelsAndRegion, kNoExtractor, kNoWeights, make_psnr_metric, nullptr},
      {"ssim", "SSIM, 11x11 Gaussian sigma 1.5, population covariance (Wang et al. / scikit-image)",
       kPerImage, kHigherIsBetter, 1,
       [](const MetricSetup& s) { return "ssim[skimage-0.19,gaussian-1.5,population-cov," + pixel_suffix(s) + "]"; },
       kChannelsAndRegion, kNoExtractor, kNoWeights,
       [](const MetricSetup& s) { return make_ssim_metric(s, SsimWindow::Gaussian); }, nullptr},
      {"ssim-uniform", "SSIM, 7x7 uniform window, sample covariance (scikit-image defaults)",
       kPerImage, kHigherIsBetter, 1,
       [](const MetricSetup& s) { return "ssim[skimage-0.19,uniform-7,sample-cov," + pixel_suffix(s) + "]"; },
       kChannelsAndRegion, kNoExtractor, kNoWeights,
       [](const MetricSetup& s) { return make_ssim_metric(s, SsimWindow::Uniform); }, nullptr},
      {"lpips", "LPIPS v0.1, AlexNet trunk (--lpips-net vgg for VGG16), inputs in [-1,1] (richzhang/lpips 0.1.4)",
       kPerImage, kLowerIsBetter, 1,
       [](const MetricSetup& s) {
         return "lpips[v0.1," + std::string(to_string(lpips_trunk(s.network.lpips_net))) + "]";
       },
       kWholeRgbImages, kNoExtractor,
       [](const MetricSetup& s) -> std::vector<std::string> {
         if (lpips_trunk(s.network.lpips_net) == LpipsTrunk::Alex) return {"alexnet", "lpips-alex"};
         return {"vgg16", "lpips-vgg"};
       },
       make_lpips_metric, nullptr},
      {"fid", "FID on Inception pool3, float64 statistics, scipy-sqrtm semantics (pytorch-fid 0.3)",
       kPerSet, kLowerIsBetter, 1,
       [](const MetricSetup& s) {
         const std::string sqrtm = to_string(parse_sqrtm_method(s.network.sqrtm));  // checked before preprocessing
         return "fid[" + s.preprocessing() + "," + sqrtm + "]";
       },
       kWholeRgbImages, "inception-fid", kNoWeights, nullptr, make_fid_metric},
      {"cmmd", "CMMD: MMD (sigma 10, x1000, biased) of CLIP ViT-L/14@336 embeddings (google-research cmmd)",
       kPerSet, kLowerIsBetter, 1,
       [](const MetricSetup& s) {
         const std::string crop = s.preprocessing() == "cmmd" ? "center-crop" : "shortest-edge-crop";
         return "cmmd[" + s.extractor + "," + crop + ",sigma=10" + (s.network.mmd_float64 ? ",f64" : "") + "]";
       },
       kWholeRgbImages, "clip-vit-l14-336", kNoWeights, nullptr, make_cmmd_metric},
      {"cfd", "CFD (OmniPaint): DINOv2-giant deviation of the hole from its context and of SAM segments inside it "
              "from adjacent ones; reference-free (prediction + object mask); --cfd-mode official|corrected",
       kPerImage, kLowerIsBetter, 1, cfd_convention, kWholeRgbImages, kNoExtractor,
       [](const MetricSetup&) -> std::vector<std::string> {
         return {"sam-vit-h", "dinov2-giant-config", "dinov2-giant-preprocessor", "dinov2-giant"};
       },
       make_cfd_metric, nullptr, kReferenceFree},
  };
  return entries;
}

namespace {

const MetricEntry* find_metric(const std::string& name) {
  for (const auto& e : metric_entries())
    if (e.name == name) return &e;
  return nullptr;
}

const MetricEntry& metric_row(const std::string& name) {
  if (const MetricEntry* row = find_metric(name)) return *row;
  std::string known;
  for (const auto& e : metric_entries()) known += (known.empty() ? "" : ", ") + e.name;
  throw MetricError("unknown metric '" + name + "' (known: " + known + ")");
}

// The row's facts under these options. Checks, in this order, the options the metric takes and (through its
// convention) their values, so that a bad option is reported before any file is looked for.
MetricSetup metric_setup(const MetricEntry& row, const PixelOptions& pixels, const NetworkOptions& network) {
  if (!row.pixel_options && (pixels.region != Region::Full || pixels.channels != Channels::Rgb))
    throw MetricError(row.name + " scores whole RGB images (no --region or --channels y)");
  MetricSetup setup;
  setup.spec.name = row.name;
  setup.spec.higher_is_better = row.higher_is_better;
  setup.spec.version = row.version;
  setup.pixels = pixels;
  setup.network = network;
  setup.extractor = row.extractor;
  setup.spec.convention = row.convention(setup);
  return setup;
}

// A set metric loads no network: the weights it needs are its extractor's (the extractor registry's row).
std::vector<std::string> weights_ids(const MetricEntry& row, const MetricSetup& setup) {
  if (!row.extractor.empty()) return extractor_weights_ids(row.extractor);
  if (row.weights != nullptr) return row.weights(setup);
  return {};
}

}  // namespace

std::string MetricSetup::preprocessing() const {
  if (extractor.empty()) return network.preprocessing;
  const std::vector<std::string>& modes = extractor_entry(extractor).preprocessing_modes;
  if (network.preprocessing.empty()) return modes.front();
  if (std::find(modes.begin(), modes.end(), network.preprocessing) != modes.end()) return network.preprocessing;
  std::string metric = spec.name, known;
  for (char& c : metric) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& mode : modes) known += (known.empty() ? "" : ", ") + mode;
  throw MetricError("unknown " + metric + " preprocessing '" + network.preprocessing + "' (known: " + known + ")");
}

SetMetric::SetMetric(const MetricSetup& setup)
    : spec_(setup.spec), extractor_(setup.extractor), preprocessing_(setup.preprocessing()) {}

bool is_image_metric(const std::string& name) {
  const MetricEntry* row = find_metric(name);
  return row != nullptr && row->per_image;
}

bool is_reference_free_metric(const std::string& name) {
  const MetricEntry* row = find_metric(name);
  return row != nullptr && row->per_image && row->reference_free;
}

bool is_set_metric(const std::string& name) {
  const MetricEntry* row = find_metric(name);
  return row != nullptr && !row->per_image;
}

std::unique_ptr<ImageMetric> make_image_metric(const std::string& name, const PixelOptions& options,
                                               const NetworkOptions& network) {
  const MetricEntry& row = metric_row(name);
  if (!row.per_image) throw MetricError("metric '" + name + "' compares two image sets, not image pairs");
  MetricSetup setup = metric_setup(row, options, network);
  for (const std::string& id : weights_ids(row, setup))
    setup.weights_files.push_back(model::require_weights_file(network.weights_dir, id));
  return row.make_image(setup);
}

std::unique_ptr<SetMetric> make_set_metric(const std::string& name, const NetworkOptions& network) {
  const MetricEntry& row = metric_row(name);
  if (row.per_image) throw MetricError("metric '" + name + "' is per image, not a set metric");
  return row.make_set(metric_setup(row, {}, network));
}

std::string metric_convention(const std::string& name, const NetworkOptions& network) {
  return metric_setup(metric_row(name), {}, network).spec.convention;
}

std::vector<std::string> metric_weights_ids(const std::string& name, const NetworkOptions& network) {
  const MetricEntry* row = find_metric(name);
  if (row == nullptr) return {};
  return weights_ids(*row, metric_setup(*row, {}, network));
}

std::vector<std::string> missing_weights(const std::string& name, const NetworkOptions& network) {
  std::vector<std::string> lines;
  for (const std::string& id : metric_weights_ids(name, network))
    if (!std::filesystem::is_regular_file(network.weights_dir / model::weights_file_info(id).relative_path))
      lines.push_back(model::missing_weights_message(network.weights_dir, id));
  return lines;
}

}  // namespace osor::metrics
