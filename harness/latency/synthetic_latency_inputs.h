// Inputs of `osor latency` that need no image files (OpenCV-free, so in every build), all made before any timing
// so that image generation, decoding and resizing never fall inside a timed region.
//   synthetic: an image of uniform random values in [0, 1] from a seeded CPU generator (each image its own draw),
//              and a centred rectangle mask of half the height and half the width (25 % of the pixels), res×res;
//   benchmark: the first samples of a benchmark (harness/latency/benchmark_latency_inputs.h, builds with OpenCV),
//              resized to res×res by resized_input, which lives here so that its tests need no OpenCV.
#pragma once

#include <cstdint>
#include <vector>

#include "adapters/remover.h"

namespace osor::harness {

std::vector<adapters::RemovalInput> synthetic_inputs(int64_t res, int count, uint64_t seed);

// The image resized bilinearly (align_corners=False, no antialias) and the mask by nearest neighbour to res×res.
adapters::RemovalInput resized_input(const adapters::RemovalInput& input, int64_t res);

}  // namespace osor::harness
