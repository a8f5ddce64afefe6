// flux-fill: the multi-step FLUX.1-Fill [dev] baseline (model/flux_fill/multi_step.h, diffusers' FluxFillPipeline)
// with the model card's call: 50 steps, guidance_scale 30, max_sequence_length 512. Image handling as sdxl-inpaint
// does it (adapters/sdxl_inpaint.h): the image and the mask resized to size×size with Pillow's bicubic (8-bit,
// bit-exact; the pipeline's own Lanczos resize to the same size is then Pillow's identity), the pipeline binarises
// the mask at 0.5; the output is quantised as the pipeline's PIL output ((x·255).round()) and resized back to the
// input size with Pillow's bicubic. Non-square inputs are stretched to the square and back.
// Options: steps=50, guidance=30, size=1024 (a multiple of 16), prompt=FILE (a prompt cache, .safetensors or OSOR's
// .pt, with prompt_embeds and pooled_prompt_embeds; default osor-flux/prompt_embeds.safetensors, OSOR's fixed
// prompt), noise=FILE (recorded draws: latents [1,16,h/8,w/8] before packing, masked_image_posterior; otherwise
// from --seed). With RemoverContext::random_weights the networks are random, built from the configs
// (model::FluxFill::random), for latency and memory measurements. Arbitrary text prompts would need the T5 and
// CLIP text encoders, which are not ported.
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

// The registry row's factory (adapters/registry.cpp): AdapterError for bad options or missing weights.
std::unique_ptr<Remover> make_flux_fill_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
