// osor-flux: OSOR one-step removal on FLUX.1-Fill [dev] (model/osor/osor_flux.h), with the official script's image
// handling (osor-fluxfill/scripts/inference_enhance.py __main__): the input resized to the processing size (long
// side capped at 1024, both sides floored to multiples of 16) with Pillow's bicubic (8-bit, bit-exact), the mask
// with Pillow's nearest; the output truncated to 8 bits ((x·255).astype(uint8)) and resized back with Pillow's
// bicubic.
// Options: long_side=1024 (resize policy), t=400 (σ = t/1000), guidance=30, time=official|exact (σ and the
// embedded 1000·σ, 1000·g in the model dtype as the official code — bf16 rounds them to 0.400390625, 400, 29952 —
// or in float32), lora=merged|runtime, alpha=input|processing (size of the returned alpha), prompt=FILE (the prompt
// cache: .safetensors or OSOR's .pt; default osor-flux/prompt_embeds.safetensors), noise=FILE (safetensors with
// `posterior` [1,16,h/8,w/8] and `flow` [1,L,64]: the recorded draws of an official run; otherwise from --seed).
// With RemoverContext::random_weights the networks are random, built from the configs (OsorFlux::random).
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

// The registry row's factory (adapters/registry.cpp): AdapterError for bad options or missing weights.
std::unique_ptr<Remover> make_osor_flux_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
