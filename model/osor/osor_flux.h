// OSOR one-step object removal on FLUX.1-Fill [dev], as the official inference code does it
// (Zhouqm-Git/osor osor-fluxfill/scripts/inference_enhance.py::FluxInferenceEnhance.infer; spec/model.md §4.3-4.5):
//   z_shot = (mean + std·noise.posterior − shift_factor) · scaling_factor     VAE posterior *sample* of 2·image − 1
//   m      = the pixel mask 8×8-packed → [1, L, 256] (as given: 0/1, no binarisation)
//   z_t    = (1 − σ)·pack(z_shot) + σ·noise.flow                            σ = model_t / 1000 (0.4), no shift;
//                                                                            noise.flow is drawn packed, [1, L, 64]
//   out    = transformer([z_t | pack(z_shot) | m], t, prompt_embeds, pooled, img_ids, txt_ids, guidance)
//            t = σ as a tensor in the model dtype (bf16: 0.400390625) and the model embeds 1000·t, 1000·g in its
//            dtype (bf16: 400 and 29952) — the official rounding; `exact_time` keeps both in float32 instead.
//   x0     = unpack(z_t − t·out[..., :64]);  α = sigmoid(unpack(out[..., 64:68]))  (Phase II; Phase I: α = m_lat,
//            max_pool2d(mask, 8) — hard blending)
//   x      = clamp((VAE.decode(unscaled(x0)·α + unscaled(z_shot)·(1 − α)) + 1) / 2, 0, 1)
//            unscaled(z) = z / scaling_factor + shift_factor: blending happens in the VAE's own latent space.
// The conditioning latent is the *full* (unmasked) input latent, unlike the stock Fill pipeline. Everything runs in
// the model dtype as the official code does (its VAE included: it calls vae.encode/decode directly). The fixed
// prompt's embeddings come from a cache (model/io/prompt_cache.h).
// Image resizing to the processing size and back is the caller's (adapters/osor_flux).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/lora.h"

namespace osor::model {

class FluxTransformer2DModel;
class AutoencoderKL;

// The official script's _calculate_resize_dimensions: when the long side exceeds `max_long_side`, both sides are
// scaled by max_long_side / long and truncated (int()); then both are floored to multiples of 16 (at least 16).
// Returns {height, width}.
std::pair<int64_t, int64_t> flux_processing_size(int64_t height, int64_t width, int64_t max_long_side = 1024);

// Files under the weights directory: flux-fill/{transformer,vae}/ in diffusers layout (the transformer single-file
// or sharded) and osor-flux/{state_dict,prompt_embeds}.safetensors (names from model/weights_manifest).
struct OsorFluxFiles {
  std::filesystem::path transformer_config, vae_config, vae_weights, osor_checkpoint, prompt_embeds;
  std::vector<std::filesystem::path> transformer_weights;
  // ModelError in one line naming every missing file and where to get it. `prompt_embeds_override` replaces the
  // prompt cache (a .safetensors or OSOR's own .pt); `checkpoint` replaces osor-flux/state_dict.safetensors (e.g. a
  // training checkpoint's state_dict.safetensors).
  static OsorFluxFiles locate(const std::filesystem::path& weights_dir,
                              const std::filesystem::path& prompt_embeds_override = {},
                              const std::filesystem::path& checkpoint = {});
};

// The recorded draws of one official run.
struct OsorFluxNoise {
  at::Tensor posterior;  // [1, C, h/8, w/8]: the VAE posterior sample's N(0,1) draw
  at::Tensor flow;       // [1, L, 4C]: randn_like(packed latents), the flow-matching noise
};

struct OsorFluxOptions {
  int64_t model_t = 400;    // σ = model_t / 1000
  double guidance = 30.0;   // the official script's -g default
  bool exact_time = false;  // σ, 1000·σ and 1000·g in float32 instead of the model dtype (see above)
  uint64_t seed = 0;        // CPU generator for the draws (posterior, then flow) when `noise` is not given
  std::optional<OsorFluxNoise> noise;
};

struct OsorFluxResult {
  at::Tensor image;        // [1,3,h,w] float32 in [0,1] at the processing size
  at::Tensor alpha;        // [1,1,h/8,w/8] float32
  at::Tensor alpha_image;  // [1,1,h,w] float32: alpha bilinearly resized (align_corners=False) to the image
  std::map<std::string, at::Tensor> trace;     // intermediates under the osor_flux_e2e fixture's names
  std::map<std::string, double> stages_ms;     // vae_encode, transformer, vae_decode (model/stage_timer.h)
  std::map<std::string, int64_t> stage_calls;  // 1 each
};

class OsorFlux {
 public:
  // Loads the networks on `device` in `dtype`, applies the OSOR checkpoint (merged LoRA by default) and reads the
  // prompt cache.
  static OsorFlux load(const OsorFluxFiles& files, const at::Device& device, at::ScalarType dtype,
                       const LoraOptions& lora = {});
  // Random networks from `config_dir`/flux-fill/{transformer,vae}/config.json (model/configs/full: the real
  // FLUX.1-Fill configs), the Phase II alpha head (proj_out widened to 68 as OSOR's release) and a random prompt
  // cache of the shapes the transformer config implies ([1, 512, joint_attention_dim], [1, pooled_projection_dim]).
  // For latency and memory measurements. ModelError names a missing config file.
  static OsorFlux random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                         uint64_t seed = 0);
  OsorFlux(std::unique_ptr<FluxTransformer2DModel> transformer, std::unique_ptr<AutoencoderKL> vae,
           at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds);
  ~OsorFlux();
  OsorFlux(OsorFlux&&) noexcept;
  OsorFlux& operator=(OsorFlux&&) noexcept;

  // image [1,3,h,w] in [0,1] and mask [1,1,h,w] at the processing size (h, w multiples of 16).
  OsorFluxResult run(const at::Tensor& image, const at::Tensor& mask, const OsorFluxOptions& options) const;

  bool has_alpha_head() const;
  FluxTransformer2DModel& transformer();
  AutoencoderKL& vae();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
