// OmniEraser's removal pipeline (PRIS-CV/Omnieraser@7b4e898 test_control_lora_flux.py,
// pipeline_flux_control_removal.py::FluxControlRemovalPipeline; diffusers ≥ 0.32): FLUX.1 [dev] with x_embedder
// widened 64 → 256 input features (new columns zero) and the LoRA theSure/Omnieraser pytorch_lora_weights.safetensors
// (diffusers/PEFT names, rank 32, x_embedder included; merged), the fixed prompt "There is nothing here."
// (an embedding file: scripts/encode_flux_prompt.py), conditioning concatenated along the features:
//   x = 2·image − 1;  m = (mask ≥ 0.5)                     mask processor: grayscale, binarised at 0.5
//   masked     = x with m > 0.5 set to −1;  foreground = x with m < 0.5 set to −1
//   z_masked, z_fg = (posterior samples − shift)·scaling   (the pipeline also encodes the unmasked image and
//                                                           discards the result; not done here)
//   m_lat = 1 − nearest(m, h/8 × w/8) (pixel (8i, 8j)), repeated to C channels
//   control = pack(cat(z_masked, z_fg, m_lat))              [1, L, 3·4C] = 192 features
//   per step: v = transformer(cat(z, control), t_i/1000, guidance 3.5, prompt); z = Euler step
//   image = decode(z)
// Draws (OmniEraserNoise, or from the seed on one CPU generator in this order): the foreground and masked-image
// posteriors (the pipeline draws them from the global generator, before) the latents (from its seeded generator),
// each [1, C, h/8, w/8] in float32. The 1024² resize and back is the adapter's (adapters/omnieraser.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>

#include "model/flux_baselines/flux_dev_pipeline.h"

namespace osor::model {

// flux-dev/{transformer,vae,scheduler}/ plus omnieraser/pytorch_lora_weights.safetensors and the prompt embeddings
// (omnieraser/prompt_embeds.safetensors, or prompt=FILE).
struct OmniEraserFiles {
  FluxDevFiles backbone;
  std::filesystem::path lora, prompt_embeds;
  static OmniEraserFiles locate(const std::filesystem::path& weights_dir,
                                const std::filesystem::path& prompt_embeds_override = {});
};

struct OmniEraserNoise {
  at::Tensor foreground_posterior, masked_image_posterior, latents;
};

struct OmniEraserOptions {
  int64_t steps = 28;
  double guidance = 3.5;
  uint64_t seed = 0;
  std::optional<OmniEraserNoise> noise;
};

// The conditioning the pipeline builds (prepare_image_with_mask), exposed for tests: image [1,3,h,w] in [0,1],
// mask [1,1,h,w], the two posterior draws; returns the packed control latents [1, L, 12·C].
at::Tensor omnieraser_control_latents(const FluxDevBackbone& backbone, const at::Tensor& image, const at::Tensor& mask,
                                      const at::Tensor& eps_foreground, const at::Tensor& eps_masked);

class OmniEraser {
 public:
  static OmniEraser load(const OmniEraserFiles& files, const at::Device& device, at::ScalarType dtype);
  // Random FLUX.1 [dev] networks from `config_dir`/flux-dev/ configs with x_embedder widened to 4× (random, as a
  // merged LoRA would leave it) and a random 512-token prompt: for latency and memory.
  static OmniEraser random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                           uint64_t seed = 0);
  OmniEraser(FluxDevBackbone backbone, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds);

  // image [1,3,h,w] in [0,1], mask [1,1,h,w] (binarised at 0.5), h and w multiples of 16.
  FluxDevResult run(const at::Tensor& image, const at::Tensor& mask, const OmniEraserOptions& options) const;

  FluxTransformer2DModel& transformer() const { return backbone_.transformer(); }

 private:
  FluxDevBackbone backbone_;
  at::Tensor prompt_embeds_, pooled_;
};

}  // namespace osor::model
