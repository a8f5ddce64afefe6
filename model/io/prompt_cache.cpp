#include "model/io/prompt_cache.h"

#include <ATen/ATen.h>

#include <string>
#include <utility>

#include "model/error.h"
#include "model/io/npz_archive.h"
#include "model/io/pytorch_checkpoint.h"
#include "model/io/safetensors.h"

namespace osor::model {
namespace {

constexpr const char* kNames[] = {"prompt_embeds", "pooled_prompt_embeds"};

at::ScalarType checkpoint_scalar_type(const std::string& dtype, const std::filesystem::path& path) {
  static const std::pair<const char*, at::ScalarType> kTypes[] = {
      {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"F64", at::kDouble}};
  for (const auto& [name, type] : kTypes)
    if (dtype == name) return type;
  throw ModelError("prompt cache " + path.string() + ": embeddings of dtype " + dtype + " (expected a float type)");
}

PromptCache read_torch_save(const std::filesystem::path& path) {
  const PytorchCheckpoint checkpoint = PytorchCheckpoint::read(path);
  at::Tensor found[2];
  for (int i = 0; i < 2; ++i) {
    const CheckpointTensor* t = checkpoint.find(kNames[i]);
    if (t == nullptr) throw ModelError("prompt cache " + path.string() + ": tensor " + kNames[i] + " is missing");
    const auto options = at::TensorOptions().dtype(checkpoint_scalar_type(t->dtype, path));
    // Cloned: the checkpoint's mapping ends with this function.
    found[i] = at::from_blob(const_cast<unsigned char*>(t->data), t->shape, options).clone();
  }
  return {found[0], found[1]};
}

PromptCache read_safetensors(const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  for (const char* name : kNames)
    if (!file.contains(name)) throw ModelError("prompt cache " + path.string() + ": tensor " + name + " is missing");
  return {file.tensor(kNames[0]).clone(), file.tensor(kNames[1]).clone()};
}

// OmniPaint's embeddings/remove.npz (np.savez of prompt_embeds, pooled_prompt_embeds, text_ids; text_ids are the
// usual zeros and not kept).
PromptCache read_npz_cache(const std::filesystem::path& path) {
  auto arrays = read_npz(path, {kNames[0], kNames[1]});
  for (const char* name : kNames)
    if (!at::isFloatingType(arrays.at(name).scalar_type()))
      throw ModelError("prompt cache " + path.string() + ": " + name + " is not a float array");
  return {arrays.at(kNames[0]), arrays.at(kNames[1])};
}

}  // namespace

PromptCache read_prompt_cache(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw ModelError("prompt cache " + path.string() + ": no such file");
  const std::string ext = path.extension().string();
  PromptCache cache = ext == ".safetensors" ? read_safetensors(path)
                      : ext == ".npz"       ? read_npz_cache(path)
                                            : read_torch_save(path);
  if (cache.prompt_embeds.dim() != 3 || cache.pooled_prompt_embeds.dim() != 2 ||
      cache.prompt_embeds.size(0) != cache.pooled_prompt_embeds.size(0))
    throw ModelError("prompt cache " + path.string() + ": expected prompt_embeds [B,T,D] and pooled_prompt_embeds "
                     "[B,P] of one batch size");
  return cache;
}

}  // namespace osor::model
