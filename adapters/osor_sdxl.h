// osor-sdxl: OSOR one-step removal on SDXL-Inpainting (model/osor/one_step.h), with the official script's image
// handling: the input resized to the processing size with Pillow's bicubic (8-bit, bit-exact), the mask with
// Pillow's nearest; the output truncated to 8 bits ((x·255).astype(uint8)) and resized back with Pillow's bicubic.
// Options: short_side=512 (resize policy), t=400, lora=merged|runtime, alpha=input|processing (size of the
// returned alpha: the input's, or the processing size as the official script saves it), noise=FILE (safetensors
// with `posterior` and `eps`: the recorded draws of an official run; otherwise drawn from --seed).
// channels_last=0, cuda_graphs=0: how the model runs (model::OneStepExecution); the same result up to summation order.
// With RemoverContext::random_weights the networks are random, built from the configs (OsorSdxl::random).
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

// The registry row's factory (adapters/registry.cpp): AdapterError for bad options or missing weights.
std::unique_ptr<Remover> make_osor_sdxl_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
