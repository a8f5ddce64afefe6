#include "model/flux/flux_lora.h"

#include <ATen/ATen.h>

#include <cmath>

#include "model/error.h"
#include "model/flux/flux_transformer.h"
#include "model/io/safetensors.h"
#include "model/nn/layers.h"

namespace osor::model {

LoraReport apply_osor_checkpoint(FluxTransformer2DModel& transformer, const std::map<std::string, at::Tensor>& tensors,
                                 const std::string& source, const LoraOptions& options) {
  return apply_osor_checkpoint(transformer.module(), tensors, source, "proj_out", options);
}

LoraReport apply_osor_checkpoint(FluxTransformer2DModel& transformer, const SafetensorsFile& file,
                                 const LoraOptions& options) {
  return apply_osor_checkpoint(transformer.module(), file, "proj_out", options);
}

void widen_proj_out(FluxTransformer2DModel& transformer, int64_t features, uint64_t seed) {
  nn::Linear* proj_out = nullptr;
  for (const auto& [path, linear] : nn::named_linears(transformer.module()))
    if (path == "proj_out") proj_out = linear;
  if (!proj_out) throw ModelError("widen_proj_out: the transformer has no proj_out");
  const at::Tensor w = proj_out->weight;
  const int64_t old = w.size(0), fan_in = w.size(1);
  if (features < old) throw ModelError("widen_proj_out: cannot narrow proj_out from " + std::to_string(old));
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor extra = at::randn({features - old, fan_in}, gen, at::TensorOptions().dtype(at::kFloat)) *
                           std::sqrt(2.0 / static_cast<double>(fan_in));
  const at::Tensor new_b = proj_out->bias.defined()
                               ? at::cat({proj_out->bias.to(at::kFloat).cpu(), at::zeros({features - old})}, 0)
                               : at::Tensor();
  proj_out->replace(at::cat({w.to(at::kFloat).cpu(), extra}, 0), new_b);
}

}  // namespace osor::model
