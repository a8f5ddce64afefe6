// sdxl-inpaint: the multi-step SDXL-Inpainting baseline (model/sdxl_inpaint/multi_step.h, diffusers'
// StableDiffusionXLInpaintPipeline) with the model card's call: 20 steps, guidance_scale 8.0, strength 0.99, at
// 1024×1024. Image handling, as the card does it: the image and the mask are resized to size×size with Pillow's
// bicubic (`load_image(...).resize((1024, 1024))`, Pillow's default filter; 8-bit, bit-exact), the pipeline then
// binarises the mask at 0.5; the output is quantised as the pipeline's PIL output ((x·255).round()) and resized
// back to the input size with Pillow's bicubic (the card stops at 1024²; a benchmark needs the input size).
// Non-square inputs are stretched to the square and back, as the card's resize does.
// Options: steps=20, guidance=8, strength=0.99, size=1024 (a multiple of 8), prompt=FILE (a safetensors prompt
// cache with prompt_embeds and pooled_prompt_embeds; default osor-sdxl/prompt_embeds.safetensors, OSOR's fixed
// prompt), noise=FILE (recorded draws: image_posterior, latents, masked_image_posterior; otherwise from --seed).
// With RemoverContext::random_weights the networks are random, built from the configs under the weights folder
// (model::SdxlInpaint::random), for latency and memory measurements.
// Arbitrary text prompts would need the SDXL text encoders, which are not ported.
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

// The registry row's factory (adapters/registry.cpp): AdapterError for bad options or missing weights.
std::unique_ptr<Remover> make_sdxl_inpaint_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
