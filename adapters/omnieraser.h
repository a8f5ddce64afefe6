// omnieraser: OmniEraser's removal pipeline (model/flux_baselines/omnieraser.h) with its test script's image
// handling (test_control_lora_flux.py, PRIS-CV/Omnieraser@7b4e898): image and mask resized to size × size (1024)
// with Pillow's default filter (bicubic) on 8-bit values — NetworkRemover::square_resized_removal, as flux-fill —
// the mask then binarised at 0.5 by the pipeline; the output ((x·255).round(), the pipeline's PIL output) resized
// back to the input size with Pillow's bicubic (the harness's step; the script saves the 1024² result).
// Options: steps=28, guidance=3.5, size=1024 (a multiple of 16), prompt=FILE (a prompt cache with prompt_embeds and
// pooled_prompt_embeds; default omnieraser/prompt_embeds.safetensors: "There is nothing here." encoded by
// scripts/encode_flux_prompt.py), noise=FILE (foreground_posterior, masked_image_posterior, latents, each
// [1,16,h/8,w/8]; otherwise from --seed). Random weights: model::OmniEraser::random.
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

std::unique_ptr<Remover> make_omnieraser_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
