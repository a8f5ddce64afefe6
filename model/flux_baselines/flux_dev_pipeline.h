// What the FLUX.1 [dev] multi-step baselines (OmniPaint: model/flux_baselines/omnipaint.h, OmniEraser:
// omnieraser.h) share: the backbone files and networks (transformer, VAE, FlowMatchEulerDiscreteScheduler from
// flux-dev/{transformer,vae,scheduler}/ in diffusers layout), VAE encoding to scaled latents, the denoising loop and
// decoding, with per-stage timing (vae_encode, transformer once per step, vae_decode).
//
// The loop is diffusers' FluxPipeline one (both methods' pipelines copy it): sigmas linspace(1, 1/n, n) with the
// dynamic shift from the number of image tokens (model/schedulers/flow_match_euler.h); per step the transformer sees
// t_i in the model dtype divided by 1000 there, and guidance (embedded, FLUX.1 [dev] is guidance-distilled: one call
// per step); Euler step in float32. Decoding: unpack, /scaling + shift, VAE decode, clamp(x/2 + 0.5, 0, 1).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace osor::model {

class FluxTransformer2DModel;
class AutoencoderKL;
class FlowMatchEulerScheduler;
class StageTimer;

// flux-dev/{transformer,vae,scheduler}/ under the weights folder (names from model/weights_manifest). Each missing
// file is appended to `missing` (comma-separated) for the caller's one-line error.
struct FluxDevFiles {
  std::filesystem::path transformer_config, vae_config, vae_weights, scheduler_config;
  std::vector<std::filesystem::path> transformer_weights;
  static FluxDevFiles locate(const std::filesystem::path& weights_dir, std::string& missing);
};

struct FluxDevResult {
  at::Tensor image;                            // [1,3,h,w] float32 in [0,1], the processing size
  std::vector<float> timesteps;                // the timesteps the loop ran
  std::map<std::string, double> stages_ms;     // vae_encode, transformer, vae_decode
  std::map<std::string, int64_t> stage_calls;  // transformer: one per step
};

class FluxDevBackbone {
 public:
  static FluxDevBackbone load(const FluxDevFiles& files, const at::Device& device, at::ScalarType dtype);
  // Random networks from `config_dir`/flux-dev/{transformer/config.json, vae/config.json,
  // scheduler/scheduler_config.json}; `method` names the caller in the error for a missing config.
  static FluxDevBackbone random(const std::filesystem::path& config_dir, const at::Device& device,
                                at::ScalarType dtype, uint64_t seed, const std::string& method);
  FluxDevBackbone(std::unique_ptr<FluxTransformer2DModel> transformer, std::unique_ptr<AutoencoderKL> vae,
                  std::unique_ptr<FlowMatchEulerScheduler> scheduler);
  ~FluxDevBackbone();
  FluxDevBackbone(FluxDevBackbone&&) noexcept;
  FluxDevBackbone& operator=(FluxDevBackbone&&) noexcept;

  FluxTransformer2DModel& transformer() const { return *transformer_; }
  AutoencoderKL& vae() const { return *vae_; }
  int64_t latent_channels() const;
  int64_t vae_scale_factor() const;  // 8

  // (posterior sample of x − shift_factor)·scaling_factor in the transformer's dtype: x [1,3,h,w] in [-1,1],
  // `eps` the posterior draw [1, C, h/8, w/8].
  at::Tensor encode(const at::Tensor& x, const at::Tensor& eps) const;
  // The loop above from packed latents z [1, L, 4C]; `velocity(z, timestep)` runs the transformer (timestep the
  // [1] tensor t_i/1000 in the model dtype) inside the timed "transformer" stage. Returns the final packed latents.
  at::Tensor denoise(at::Tensor z, int64_t steps, StageTimer& timer, std::vector<float>& timesteps,
                     const std::function<at::Tensor(const at::Tensor& z, const at::Tensor& timestep)>& velocity) const;
  // Packed latents of a latent grid lh × lw → image [1,3,8·lh,8·lw] float32 in [0,1] on the CPU.
  at::Tensor decode(const at::Tensor& z, int64_t lh, int64_t lw) const;

 private:
  std::unique_ptr<FluxTransformer2DModel> transformer_;
  std::unique_ptr<AutoencoderKL> vae_;
  std::unique_ptr<FlowMatchEulerScheduler> scheduler_;
};

// Checks image-like inputs [1,C,h,w] with h and w multiples of `multiple`: ModelError "`method`: ..." otherwise.
void check_processing_size(const at::Tensor& image, int64_t channels, int64_t multiple, const std::string& method);

}  // namespace osor::model
