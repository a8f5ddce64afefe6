// The weights files of a diffusers component folder (transformer/, unet/, vae/): the single
// `<stem>.safetensors`, or the shards that `<stem>.safetensors.index.json` lists (huggingface's sharded layout:
// {"metadata": {"total_size": N}, "weight_map": {tensor name: shard file name}}). The files are then loaded
// together (load_module_weights), which checks every key against the module; this reader checks the index itself:
// valid JSON, shard names that are plain file names in the same folder (no path separators, no "..") and exist,
// and every tensor the index maps found in the shard it names.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace osor::model {

// The shards of `index` (a *.safetensors.index.json), in order of first appearance. ModelError naming the index.
std::vector<std::filesystem::path> sharded_weight_files(const std::filesystem::path& index);

// `folder/<stem>.safetensors` when it exists, else the shards of `folder/<stem>.safetensors.index.json`;
// ModelError naming both when neither exists.
std::vector<std::filesystem::path> diffusers_weight_files(const std::filesystem::path& folder,
                                                          const std::string& stem = "diffusion_pytorch_model");

}  // namespace osor::model
