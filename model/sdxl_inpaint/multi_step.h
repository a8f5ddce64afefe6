// The multi-step SDXL-Inpainting baseline: diffusers' StableDiffusionXLInpaintPipeline (v0.32.2 .. 0.40,
// pipelines/stable_diffusion_xl/pipeline_stable_diffusion_xl_inpaint.py) with a 9-channel UNet, no
// padding_mask_crop, denoising_start/end unset, guidance_rescale 0, one image, prompt embeddings given:
//   x      = 2·image − 1;   m = (mask ≥ 0.5)                        the mask processor binarises at 0.5
//   x_m    = x · (m < 0.5)                                          masked image (0 inside the hole)
//   z_img  = (mean + std·ε_img) · sf       only when strength < 1  VAE posterior *sample* (retrieve_latents'
//   z_mask = (mean + std·ε_mask) · sf                               default sample_mode), for both encodings
//   t_start = n − min(int(n·strength), n); the loop runs timesteps[t_start:]  (EulerDiscreteScheduler)
//   z      = strength == 1 ? noise · init_noise_sigma : z_img + noise · σ[t_start]
//   m_lat  = interpolate(m, (h/8, w/8), mode nearest)
//   per step i: ε = UNet([scale_model_input(z, i) | m_lat | z_mask], t_i, prompt, pooled, time_ids)
//               guidance > 1: one UNet call on the batch [negative, positive], ε = ε_u + g·(ε_c − ε_u)
//               z = EulerDiscreteScheduler.step(ε, i, z)
//   image  = clamp(VAE.decode(z / sf) / 2 + 0.5, 0, 1)             no blend with the input (the pipeline only
//                                                                   blends for 4-channel UNets / padding_mask_crop)
// time_ids = [h, w, 0, 0, h, w] for both halves (original = target = processing size, no crop). The negative
// embeddings are zeros: the SDXL-inpainting repository sets force_zeros_for_empty_prompt and no negative prompt
// is given. Random draws, in the pipeline's order from one generator: ε_img (only when strength < 1), noise,
// ε_mask — each [1,4,h/8,w/8], drawn in float32 on a CPU generator. diffusers draws them in the pipeline dtype,
// so seeded runs match it in fp32 only; fp16/bf16 runs reproduce a recorded run through SdxlInpaintNoise.
// force_upcast in the VAE config: with fp16 the VAE runs in float32 (weights rounded through fp16 first), as
// diffusers does; with bf16 diffusers would encode in float32 and decode in bf16, here both stay in bf16 (the
// SDXL-Inpainting VAE config sets force_upcast false).
// The text encoders are not ported: the prompt is a cached embedding file (prompt_embeds, pooled_prompt_embeds).
// Image resizing to the processing size and back is the caller's (adapters/sdxl_inpaint).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace osor::model {

class UNet2DConditionModel;
class AutoencoderKL;
class EulerDiscreteScheduler;

// Files under the weights directory: sdxl-inpainting/ as diffusers/stable-diffusion-xl-1.0-inpainting-0.1 lays
// it out (names from model/weights_manifest; the .fp16 weights variant where only it exists) and the cached
// prompt embeddings (osor-sdxl/prompt_embeds.safetensors, OSOR's fixed prompt, unless overridden).
struct SdxlInpaintFiles {
  std::filesystem::path unet_config, unet_weights, vae_config, vae_weights, scheduler_config, prompt_embeds;
  // The paths, unchecked.
  static SdxlInpaintFiles under(const std::filesystem::path& weights_dir);
  // The files that do not exist, in the order above.
  std::vector<std::filesystem::path> missing() const;
  // under() + missing(): throws ModelError in one line naming every missing file and where to get it.
  static SdxlInpaintFiles locate(const std::filesystem::path& weights_dir,
                                 const std::filesystem::path& prompt_embeds_override = {});
};

// The recorded draws of one pipeline run (as generator outputs), each [1,4,h/8,w/8].
struct SdxlInpaintNoise {
  at::Tensor image_posterior;         // ε of the image latents' posterior sample (unused when strength == 1)
  at::Tensor latents;                 // the initial noise (prepare_latents' randn_tensor)
  at::Tensor masked_image_posterior;  // ε of the masked-image latents' posterior sample
};

struct SdxlInpaintOptions {
  int64_t steps = 20;     // num_inference_steps (the model card's example)
  double guidance = 8.0;  // guidance_scale; classifier-free guidance when > 1
  double strength = 0.99;
  uint64_t seed = 0;      // CPU generator for the draws when `noise` is not given
  std::optional<SdxlInpaintNoise> noise;
};

struct SdxlInpaintResult {
  at::Tensor image;                            // [1,3,h,w] float32 in [0,1], the processing size
  std::vector<float> timesteps;                // the timesteps the loop ran
  std::map<std::string, at::Tensor> trace;     // z_init, mask_latent, masked_image_latents, z_final
  std::map<std::string, double> stages_ms;     // vae_encode, unet, vae_decode (model/stage_timer.h)
  std::map<std::string, int64_t> stage_calls;  // vae_encode: 1 or 2 encodes; unet: one per step; vae_decode: 1
};

class SdxlInpaint {
 public:
  // Loads the networks on `device` in `dtype` (fp32/fp16/bf16), the scheduler config and the prompt cache.
  static SdxlInpaint load(const SdxlInpaintFiles& files, const at::Device& device, at::ScalarType dtype);
  // Random networks from the configs alone, for latency and memory measurements without weight files:
  // `config_dir`/sdxl-inpainting/{unet/config.json, vae/config.json, scheduler/scheduler_config.json}
  // (model/configs/full: the real SDXL-Inpainting configs; model/configs/tiny: a tiny one of the same structure).
  // Parameters as model/nn/layers.h randomize_parameters, a random prompt cache of the shapes the UNet config
  // implies ([1,77,cross_attention_dim], [1,pooled]); the VAE dtype follows load()'s force_upcast rule.
  // ModelError names a missing config file.
  static SdxlInpaint random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                            uint64_t seed = 0);
  // Networks built elsewhere (random full-size weights for measurements, tiny configs for tests).
  SdxlInpaint(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
              std::unique_ptr<EulerDiscreteScheduler> scheduler, at::Tensor prompt_embeds,
              at::Tensor pooled_prompt_embeds);
  ~SdxlInpaint();
  SdxlInpaint(SdxlInpaint&&) noexcept;
  SdxlInpaint& operator=(SdxlInpaint&&) noexcept;

  // image [1,3,h,w] in [0,1], mask [1,1,h,w] in [0,1] (binarised at 0.5), h and w multiples of 8.
  SdxlInpaintResult run(const at::Tensor& image, const at::Tensor& mask, const SdxlInpaintOptions& options) const;

  UNet2DConditionModel& unet();
  AutoencoderKL& vae();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
