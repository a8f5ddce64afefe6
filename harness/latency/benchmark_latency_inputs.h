// Benchmark samples as `osor latency --bench` inputs (builds with OpenCV only: it decodes image files): the first
// `count` samples of the benchmark in its listing order, with the object or effect mask, resized to res×res
// (synthetic_latency_inputs.h resized_input). HarnessError names the benchmark when it has no samples.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "adapters/remover.h"

namespace osor::harness {

std::vector<adapters::RemovalInput> benchmark_inputs(const std::string& bench, const std::filesystem::path& data_dir,
                                                     const std::string& masks, int count, int64_t res);

}  // namespace osor::harness
