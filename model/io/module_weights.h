// Loading a torch::nn::Module from safetensors files by its own parameter and buffer names. Modules register
// their submodules under the reference checkpoints' names (STYLE.md), so loading is a lookup: every name of
// named_parameters() and named_buffers() must be found in exactly one of the files with the same shape (the
// dtype is converted to the module's), and every file key must belong to the module unless an ignore rule
// says otherwise. All missing, unexpected and mismatched keys are reported together in one ModelError.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model {

struct WeightsLoadOptions {
  // File keys starting with one of these are ignored (e.g. "fc." of the FID Inception, "text_model." of CLIP).
  std::vector<std::string> ignore_key_prefixes;
  // File keys ending with one of these are ignored (e.g. "num_batches_tracked", "position_ids").
  std::vector<std::string> ignore_key_suffixes;
  // Module names ending with one of these may be absent from the files and keep their current values.
  std::vector<std::string> optional_module_suffixes;
};

// Copies the tensors into the module's parameters and buffers (on whatever device they are). Throws ModelError
// naming the files and listing every problem.
void load_module_weights(torch::nn::Module& module, const std::vector<std::filesystem::path>& files,
                         const WeightsLoadOptions& options = {});

}  // namespace osor::model
