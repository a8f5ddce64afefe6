#include "harness/weights_convert.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>

#include "harness/error.h"
#include "harness/sha256.h"
#include "model/io/pytorch_checkpoint.h"
#include "model/io/safetensors.h"

namespace osor::harness {
namespace {

at::ScalarType scalar_type(const std::string& dtype) {
  static const std::pair<const char*, at::ScalarType> kTypes[] = {
      {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"F64", at::kDouble}, {"I64", at::kLong},
      {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},      {"U8", at::kByte},    {"BOOL", at::kBool}};
  for (const auto& [name, type] : kTypes)
    if (dtype == name) return type;
  throw HarnessError("no tensor type for checkpoint dtype " + dtype);
}

}  // namespace

CheckpointConversion convert_checkpoint_to_safetensors(const std::filesystem::path& in,
                                                       const std::filesystem::path& out,
                                                       const std::string& strip_prefix) {
  const model::PytorchCheckpoint checkpoint = model::PytorchCheckpoint::read(in);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const model::CheckpointTensor& t : checkpoint.tensors()) {
    std::string name = t.name;
    if (!strip_prefix.empty() && name.rfind(strip_prefix, 0) == 0) name.erase(0, strip_prefix.size());
    // The mapping is read-only and outlives the write; write_safetensors only reads these tensors.
    at::Tensor view = at::from_blob(const_cast<unsigned char*>(t.data), t.shape,
                                    at::TensorOptions().dtype(scalar_type(t.dtype)).device(at::kCPU));
    tensors.emplace_back(std::move(name), std::move(view));
  }
  if (tensors.empty()) throw HarnessError("checkpoint " + in.string() + ": no tensors to convert");
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].first == tensors[i - 1].first)
      throw HarnessError("checkpoint " + in.string() + ": two tensors are named '" + tensors[i].first +
                         "' after removing the prefix '" + strip_prefix + "'");
  model::write_safetensors(out, tensors, {{"format", "pt"}});
  return {checkpoint.format(), tensors.size(), checkpoint.skipped(), sha256_file(out)};
}

}  // namespace osor::harness
