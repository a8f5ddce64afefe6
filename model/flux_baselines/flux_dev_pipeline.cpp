#include "model/flux_baselines/flux_dev_pipeline.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "model/error.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/flux_fill/multi_step.h"
#include "model/schedulers/flow_match_euler.h"
#include "model/stage_timer.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model {

FluxDevFiles FluxDevFiles::locate(const std::filesystem::path& weights_dir, std::string& missing) {
  const FluxFillBackboneFiles backbone = FluxFillBackboneFiles::locate(weights_dir, missing, "flux-dev");
  FluxDevFiles f;
  f.transformer_config = backbone.transformer_config;
  f.transformer_weights = backbone.transformer_weights;
  f.vae_config = backbone.vae_config;
  f.vae_weights = backbone.vae_weights;
  f.scheduler_config = weights_dir / weights_file_info("flux-dev-scheduler").relative_path;
  if (!std::filesystem::is_regular_file(f.scheduler_config))
    missing += (missing.empty() ? "" : ", ") + f.scheduler_config.string();
  return f;
}

FluxDevBackbone::FluxDevBackbone(std::unique_ptr<FluxTransformer2DModel> transformer,
                                 std::unique_ptr<AutoencoderKL> vae, std::unique_ptr<FlowMatchEulerScheduler> scheduler)
    : transformer_(std::move(transformer)), vae_(std::move(vae)), scheduler_(std::move(scheduler)) {}
FluxDevBackbone::~FluxDevBackbone() = default;
FluxDevBackbone::FluxDevBackbone(FluxDevBackbone&&) noexcept = default;
FluxDevBackbone& FluxDevBackbone::operator=(FluxDevBackbone&&) noexcept = default;

FluxDevBackbone FluxDevBackbone::load(const FluxDevFiles& files, const at::Device& device, at::ScalarType dtype) {
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  auto transformer =
      std::make_unique<FluxTransformer2DModel>(FluxTransformerConfig::from_file(files.transformer_config), options);
  transformer->load(files.transformer_weights);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(files.vae_config), options);
  vae->load({files.vae_weights});
  auto scheduler = std::make_unique<FlowMatchEulerScheduler>(FlowMatchEulerConfig::from_file(files.scheduler_config));
  return FluxDevBackbone(std::move(transformer), std::move(vae), std::move(scheduler));
}

FluxDevBackbone FluxDevBackbone::random(const std::filesystem::path& config_dir, const at::Device& device,
                                        at::ScalarType dtype, uint64_t seed, const std::string& method) {
  const auto base = config_dir / "flux-dev";
  const auto transformer_config = base / "transformer" / "config.json", vae_config = base / "vae" / "config.json";
  const auto scheduler_config = base / "scheduler" / "scheduler_config.json";
  std::string missing;
  for (const auto* p : {&transformer_config, &vae_config, &scheduler_config})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError(method + " with random weights: missing config file(s) " + missing +
                     " (model/configs/full holds the FLUX.1 [dev] configs)");
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  auto transformer =
      std::make_unique<FluxTransformer2DModel>(FluxTransformerConfig::from_file(transformer_config), options);
  transformer->randomize(seed);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(vae_config), options);
  vae->randomize(seed + 1);
  auto scheduler = std::make_unique<FlowMatchEulerScheduler>(FlowMatchEulerConfig::from_file(scheduler_config));
  return FluxDevBackbone(std::move(transformer), std::move(vae), std::move(scheduler));
}

int64_t FluxDevBackbone::latent_channels() const { return vae_->config().latent_channels; }
int64_t FluxDevBackbone::vae_scale_factor() const {
  return int64_t{1} << (vae_->config().block_out_channels.size() - 1);
}

at::Tensor FluxDevBackbone::encode(const at::Tensor& x, const at::Tensor& eps) const {
  const Posterior posterior = vae_->encode(x.to(vae_->options()));
  const double shift = vae_->config().shift_factor.value_or(0.0), scaling = vae_->config().scaling_factor;
  return ((posterior.sample(eps.to(vae_->options())) - shift) * scaling).to(transformer_->options());
}

at::Tensor FluxDevBackbone::denoise(
    at::Tensor z, int64_t steps, StageTimer& timer, std::vector<float>& timesteps,
    const std::function<at::Tensor(const at::Tensor& z, const at::Tensor& timestep)>& velocity) const {
  const auto options = transformer_->options();
  scheduler_->set_timesteps(steps, z.size(1));
  for (int64_t i = 0; i < scheduler_->num_inference_steps(); ++i) {
    timer.begin("transformer");
    const float t = scheduler_->timesteps()[i];
    // t.expand(B).to(latents.dtype), then / 1000 in that dtype.
    const at::Tensor timestep = at::full({1}, t, options.dtype(at::kFloat)).to(options.dtype().toScalarType()) / 1000;
    z = scheduler_->step(velocity(z, timestep), i, z);
    timer.end();
    timesteps.push_back(t);
  }
  return z;
}

at::Tensor FluxDevBackbone::decode(const at::Tensor& z, int64_t lh, int64_t lw) const {
  const double shift = vae_->config().shift_factor.value_or(0.0), scaling = vae_->config().scaling_factor;
  const at::Tensor latents = flux::unpack_latents(z, lh, lw) / scaling + shift;
  const at::Tensor decoded = vae_->decode(latents.to(vae_->options()));
  return (decoded / 2.0 + 0.5).clamp(0.0, 1.0).to(at::kFloat).cpu();
}

void check_processing_size(const at::Tensor& image, int64_t channels, int64_t multiple, const std::string& method) {
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != channels || image.size(2) % multiple != 0 ||
      image.size(3) % multiple != 0 || image.size(2) == 0 || image.size(3) == 0) {
    std::string shape = "[";
    for (int64_t i = 0; i < image.dim(); ++i) shape += (i ? "," : "") + std::to_string(image.size(i));
    throw ModelError(method + ": expected [1," + std::to_string(channels) + ",h,w] with h, w positive multiples of " +
                     std::to_string(multiple) + " (got " + shape + "])");
  }
}

}  // namespace osor::model
