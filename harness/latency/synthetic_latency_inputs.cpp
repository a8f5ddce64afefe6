#include "harness/latency/synthetic_latency_inputs.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <string>

#include "harness/error.h"

namespace osor::harness {

std::vector<adapters::RemovalInput> synthetic_inputs(int64_t res, int count, uint64_t seed) {
  if (res < 8) throw HarnessError("--res " + std::to_string(res) + ": at least 8 pixels");
  auto gen = at::detail::createCPUGenerator(seed);
  at::Tensor mask = at::zeros({1, 1, res, res}, at::kFloat);
  const int64_t h = res / 2, w = res / 2;
  mask.slice(2, (res - h) / 2, (res - h) / 2 + h).slice(3, (res - w) / 2, (res - w) / 2 + w).fill_(1.0);
  std::vector<adapters::RemovalInput> inputs;
  for (int i = 0; i < count; ++i) {
    adapters::RemovalInput in;
    in.id = "synthetic-" + std::to_string(res) + "-" + std::to_string(i);
    in.image = at::rand({1, 3, res, res}, gen, at::TensorOptions().dtype(at::kFloat));
    in.mask = mask.clone();
    inputs.push_back(std::move(in));
  }
  return inputs;
}

adapters::RemovalInput resized_input(const adapters::RemovalInput& input, int64_t res) {
  adapters::RemovalInput out = input;
  out.image = at::upsample_bilinear2d(input.image.to(at::kFloat), {res, res}, /*align_corners=*/false).clamp(0, 1);
  out.mask = at::upsample_nearest2d(input.mask.to(at::kFloat), {res, res});
  return out;
}

}  // namespace osor::harness
