// OmniPaint's object removal (yeates/OmniPaint@cdb7c26 scripts/omnipaint_remove.py, src/generate.py,
// src/flux_core.py, src/condition.py; diffusers 0.31, PEFT 0.10): FLUX.1 [dev] with the removal LoRA
// (weights/omnipaint_remove.safetensors, diffusers/PEFT key names, attached at runtime) and the shipped prompt
// embeddings (embeddings/remove.npz), conditioned OminiControl-style, not Fill-style:
//   z_c   = pack((posterior sample of 2·condition − 1 − shift)·scaling)   the masked composite (object black)
//   ids_c = img_ids (position_delta None for removal: the condition tokens sit on the image tokens' positions)
//   z     = pack(noise.latents)                                           [1, 16, h/8, w/8] before packing
//   per step: v = transformer(z, t_i/1000, guidance 3.5, prompt; condition tokens z_c at timestep 0)
//             (model/flux/flux_transformer.h FluxConditionTokens: the LoRA acts on the condition tokens only,
//             OminiControl's latent_lora false); z = Euler step (dynamic shift from the image tokens alone)
//   image = decode(z)
// Draws, in the pipeline's order: noise.latents (prepare_latents), then the condition's posterior ε
// (Condition.encode); each [1, C, h/8, w/8] in float32 on a CPU generator from the seed (the official script draws
// both from CUDA's global generator in bf16: replay a recorded run with OmniPaintNoise). The image handling (long
// side ≤ 1024 with Lanczos, soft mask composite, the ×16 Lanczos resize of the image processor and back) is the
// adapter's (adapters/omnipaint.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "model/flux_baselines/flux_dev_pipeline.h"

namespace osor::model {

// flux-dev/{transformer,vae,scheduler}/ plus omnipaint/omnipaint_remove.safetensors and the prompt embeddings
// (omnipaint/remove.npz, or prompt=FILE: .npz, .safetensors or OSOR's .pt).
struct OmniPaintFiles {
  FluxDevFiles backbone;
  std::filesystem::path lora, prompt_embeds;
  // ModelError in one line naming every missing file and where to get it.
  static OmniPaintFiles locate(const std::filesystem::path& weights_dir,
                               const std::filesystem::path& prompt_embeds_override = {});
};

struct OmniPaintNoise {
  at::Tensor latents;              // prepare_latents' draw, before packing
  at::Tensor condition_posterior;  // ε of the condition image's posterior sample
};

struct OmniPaintOptions {
  int64_t steps = 28;      // omnipaint_remove.py --steps
  double guidance = 3.5;   // generate()'s guidance_scale
  uint64_t seed = 0;       // CPU generator for the draws when `noise` is not given
  std::optional<OmniPaintNoise> noise;
};

class OmniPaint {
 public:
  static OmniPaint load(const OmniPaintFiles& files, const at::Device& device, at::ScalarType dtype);
  // Random FLUX.1 [dev] networks from `config_dir`/flux-dev/ configs, random runtime LoRA adapters (rank 16) on
  // OminiControl's target layers and a random prompt of the configured widths (512 tokens): for latency and memory.
  static OmniPaint random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                          uint64_t seed = 0);
  OmniPaint(FluxDevBackbone backbone, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds);

  // condition: the masked composite [1,3,h,w] in [0,1], h and w multiples of 16 (the processing size).
  FluxDevResult run(const at::Tensor& condition, const OmniPaintOptions& options) const;

  FluxTransformer2DModel& transformer() const { return backbone_.transformer(); }

 private:
  FluxDevBackbone backbone_;
  at::Tensor prompt_embeds_, pooled_;
};

}  // namespace osor::model
