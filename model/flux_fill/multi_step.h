// The multi-step FLUX.1-Fill [dev] baseline: diffusers' FluxFillPipeline (v0.32.2,
// pipelines/flux/pipeline_flux_fill.py) with one image, prompt embeddings given, no `sigmas` argument:
//   x      = 2·image − 1;   m = (mask ≥ 0.5)                      the mask processor binarises at 0.5
//   z_mask = (mean + std·ε_mask − shift_factor) · scaling_factor   VAE posterior *sample* of x·(1 − m)
//   cond   = cat(pack(z_mask), pack_fill_mask(m))                  64 + 256 features per token (model/flux)
//   z      = pack(noise.latents)                                   drawn [1, C, h/8, w/8] before packing
//   per step i (FlowMatchEulerDiscreteScheduler, dynamic shift from the token count, model/schedulers):
//            v = transformer([z | cond], t_i / 1000, prompt, pooled, guidance = g)   (t_i in the model dtype,
//                divided there; the model embeds 1000·(t_i/1000) and 1000·g in its dtype)
//            z = step(v, i, z)
//   image  = clamp(VAE.decode(unpack(z) / scaling_factor + shift_factor) / 2 + 0.5, 0, 1)
// FLUX.1-Fill is guidance-distilled: guidance is an embedded input, one transformer call per step (no CFG batch).
// Random draws, in the pipeline's order from one generator: noise.latents, then ε_mask, each [1, C, h/8, w/8],
// drawn in float32 on a CPU generator (diffusers draws in the pipeline dtype: seeded runs match it in fp32 only;
// lower precisions reproduce a recorded run through FluxFillNoise). Everything runs in the pipeline dtype, the VAE
// included (the pipeline calls it directly). The text encoders are not ported: the prompt is a cached embedding
// file (model/io/prompt_cache.h). Image resizing to the processing size and back is the caller's
// (adapters/flux_fill).
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

class FluxTransformer2DModel;
class AutoencoderKL;
class FlowMatchEulerScheduler;

// Files under the weights directory: flux-fill/{transformer,vae,scheduler}/ in diffusers layout (names from
// model/weights_manifest) and the prompt cache (osor-flux/prompt_embeds.safetensors, OSOR's fixed prompt, unless
// overridden by a .safetensors or .pt).
// FLUX.1-Fill's transformer and VAE in the weights folder (flux-fill/{transformer,vae}/, single-file or sharded
// transformer weights): what flux-fill and osor-flux share. Each missing file is appended to `missing`
// (comma-separated), for the caller's one-line error.
struct FluxFillBackboneFiles {
  std::filesystem::path transformer_config, vae_config, vae_weights;
  std::vector<std::filesystem::path> transformer_weights;
  // `family`: the manifest ids' prefix — "flux-fill" (FLUX.1-Fill) or "flux-dev" (FLUX.1-dev, the omnipaint and
  // omnieraser base), same layout: <family>-transformer[-config], <family>-vae[-config].
  static FluxFillBackboneFiles locate(const std::filesystem::path& weights_dir, std::string& missing,
                                      const std::string& family = "flux-fill");
};

struct FluxFillFiles {
  std::filesystem::path transformer_config, vae_config, vae_weights, scheduler_config, prompt_embeds;
  std::vector<std::filesystem::path> transformer_weights;
  // ModelError in one line naming every missing file and where to get it.
  static FluxFillFiles locate(const std::filesystem::path& weights_dir,
                              const std::filesystem::path& prompt_embeds_override = {});
};

// The recorded draws of one pipeline run, each [1, C, h/8, w/8].
struct FluxFillNoise {
  at::Tensor latents;                 // prepare_latents' randn_tensor, before packing
  at::Tensor masked_image_posterior;  // ε of the masked-image latents' posterior sample
};

struct FluxFillOptions {
  int64_t steps = 50;      // num_inference_steps (the model card's call)
  double guidance = 30.0;  // guidance_scale (embedded)
  uint64_t seed = 0;       // CPU generator for the draws when `noise` is not given
  std::optional<FluxFillNoise> noise;
};

struct FluxFillResult {
  at::Tensor image;                            // [1,3,h,w] float32 in [0,1], the processing size
  std::vector<float> timesteps;                // the timesteps the loop ran
  std::map<std::string, at::Tensor> trace;     // masked_image_latents, latents_init, latents_final
  std::map<std::string, double> stages_ms;     // vae_encode, transformer, vae_decode (model/stage_timer.h)
  std::map<std::string, int64_t> stage_calls;  // transformer: one per step
};

class FluxFill {
 public:
  static FluxFill load(const FluxFillFiles& files, const at::Device& device, at::ScalarType dtype);
  // Random networks from `config_dir`/flux-fill/{transformer/config.json, vae/config.json,
  // scheduler/scheduler_config.json} (model/configs/full: the real FLUX.1-Fill configs) and a random prompt cache
  // of the shapes the transformer config implies, for latency and memory measurements. ModelError names a missing
  // config file.
  static FluxFill random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                         uint64_t seed = 0);
  FluxFill(std::unique_ptr<FluxTransformer2DModel> transformer, std::unique_ptr<AutoencoderKL> vae,
           std::unique_ptr<FlowMatchEulerScheduler> scheduler, at::Tensor prompt_embeds,
           at::Tensor pooled_prompt_embeds);
  ~FluxFill();
  FluxFill(FluxFill&&) noexcept;
  FluxFill& operator=(FluxFill&&) noexcept;

  // image [1,3,h,w] in [0,1], mask [1,1,h,w] in [0,1] (binarised at 0.5), h and w multiples of 16.
  FluxFillResult run(const at::Tensor& image, const at::Tensor& mask, const FluxFillOptions& options) const;

  FluxTransformer2DModel& transformer();
  AutoencoderKL& vae();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
