// OSOR one-step object removal on the SDXL-Inpainting backbone, as the official inference code does it
// (Zhouqm-Git/osor osor-sdxlinpainting/scripts/inference_enhance.py; spec §2.5):
//   z_lq   = (mean + std·noise.posterior) · scaling_factor          VAE posterior *sample* of lq = 2·image − 1
//   m      = max_pool2d(mask, 8, 8)                                  mask on the latent grid
//   z_t    = √ᾱ_t·z_lq + √(1−ᾱ_t)·noise.eps                         t = 400 (DDPM table from the scheduler config)
//   out    = UNet([z_t | m | z_lq], t, prompt_embeds, pooled, time_ids = [h, w, 0, 0, h, w])
//   x0     = (z_t − √(1−ᾱ_t)·out[:, :4]) / √ᾱ_t                     (honours prediction_type and clip_sample)
//   α      = sigmoid(out[:, 4])  (Phase II, 5-channel conv_out)  or  m  (Phase I: hard blending)
//   x      = clamp((VAE.decode((x0·α + z_lq·(1−α)) / scaling_factor) + 1) / 2, 0, 1)
// The conditioning latent is the *full* (unmasked) input latent, unlike the stock inpainting pipeline. The
// prompt is fixed, so its embeddings are read from a cache instead of running the text encoders.
// Image resizing to the processing size (processing_size()) and back is the caller's (adapters/osor_sdxl).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "model/lora.h"

namespace osor::model {

class UNet2DConditionModel;
class AutoencoderKL;
class DdpmSchedule;

// OSOR's _calculate_resize_dimensions: short side < target → both sides rounded up to multiples of 16; else the
// short side becomes `target`, the long side int(L·target/S), both then rounded up to multiples of 16.
// Returns {height, width}.
std::pair<int64_t, int64_t> processing_size(int64_t height, int64_t width, int64_t short_side = 512);

// Files under the weights directory (diffusers layout of diffusers/stable-diffusion-xl-1.0-inpainting-0.1 and the
// converted OSOR release).
struct OsorSdxlFiles {
  std::filesystem::path unet_config, unet_weights, vae_config, vae_weights, scheduler_config, osor_checkpoint,
      prompt_embeds;
  // Resolves the layout; throws ModelError in one line naming every missing file and where to get it.
  // `checkpoint` replaces osor-sdxl/state_dict.safetensors (e.g. a training checkpoint's state_dict.safetensors).
  static OsorSdxlFiles locate(const std::filesystem::path& weights_dir, const std::filesystem::path& checkpoint = {});
};

struct OneStepNoise {
  at::Tensor posterior;  // [1,4,h/8,w/8]: the VAE posterior sample's N(0,1) draw
  at::Tensor eps;        // [1,4,h/8,w/8]: the forward-noising draw
};

struct OneStepResult {
  at::Tensor image;        // [1,3,h,w] float32 in [0,1] at the processing size
  at::Tensor alpha;        // [1,1,h/8,w/8] float32: sigmoid of the alpha logit, or the latent mask (Phase I)
  at::Tensor alpha_image;  // [1,1,h,w] float32: alpha bilinearly resized (align_corners=False) to the image
  std::map<std::string, at::Tensor> trace;  // intermediates by the fixture's names (z_lq, z_t, eps, x0, ...)
  std::map<std::string, double> stages_ms;     // vae_encode, unet, vae_decode (model/stage_timer.h)
  std::map<std::string, int64_t> stage_calls;  // how often each ran (1 each here)
};

// How run() executes on the device. Every setting gives the default's result up to the kernels' summation order.
struct OneStepExecution {
  bool unet_channels_last = false;  // the UNet in NHWC (UNet2DConditionModel::set_memory_format)
  // Each stage (VAE encode, UNet, VAE decode) recorded once per processing size as a CUDA graph
  // (model/cuda_graph.h) and replayed: one launch per stage instead of thousands. CUDA devices only; the first
  // run at a size pays the recording (two warm-up calls and one recorded call); no trace is kept.
  bool cuda_graphs = false;
};

class OsorSdxl {
 public:
  // Loads the networks on `device` in `dtype` (fp32/fp16/bf16), applies the OSOR checkpoint (merged LoRA by
  // default) and reads the prompt cache.
  static OsorSdxl load(const OsorSdxlFiles& files, const at::Device& device, at::ScalarType dtype,
                       const LoraOptions& lora = {});
  // Random networks built from the configs alone, for latency and memory measurements without weight files:
  // `config_dir`/sdxl-inpainting/{unet/config.json, vae/config.json, scheduler/scheduler_config.json}
  // (model/configs/full holds the real SDXL-Inpainting configs, model/configs/tiny a tiny one of the same
  // structure). Parameters as model/nn/layers.h randomize_parameters (drawn on `device`), the Phase II alpha head
  // (conv_out widened to 5 channels, as OSOR's released checkpoint; merged LoRA costs nothing at run time) and a
  // random prompt cache of the shapes the UNet config implies. ModelError names a missing config file.
  static OsorSdxl random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                         uint64_t seed = 0);
  // Random full-size (or any config) networks, for measurements: no files needed beyond the configs given.
  OsorSdxl(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
           std::unique_ptr<DdpmSchedule> schedule, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds);
  ~OsorSdxl();
  OsorSdxl(OsorSdxl&&) noexcept;
  OsorSdxl& operator=(OsorSdxl&&) noexcept;

  // image [1,3,h,w] in [0,1] and mask [1,1,h,w] in {0,1} at the processing size (h, w multiples of 8).
  // Noise: the given draws (reproducing a recorded official run), else drawn from `seed` in the official order
  // (posterior, then eps) with a CPU generator.
  OneStepResult run(const at::Tensor& image, const at::Tensor& mask, const std::optional<OneStepNoise>& noise,
                    uint64_t seed = 0, int64_t timestep = 400) const;

  // ModelError: cuda_graphs on a non-CUDA device or in a build without CUDA graphs.
  void set_execution(const OneStepExecution& execution);
  const OneStepExecution& execution() const;

  bool has_alpha_head() const;
  UNet2DConditionModel& unet();
  AutoencoderKL& vae();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
