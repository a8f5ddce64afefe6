// `osor weights convert`: a PyTorch checkpoint (.pth, read natively by model/io/pytorch_checkpoint.h, nothing
// executed) written as safetensors. The output is deterministic, so its sha256 can be pinned in the weights
// manifest: tensors sorted by name (nlohmann's sorted header keys, data in the same order), each tensor's bytes
// row-major as in the checkpoint, metadata fixed to {"format": "pt"}, the header padded to 8 bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace osor::harness {

struct CheckpointConversion {
  std::string format;                // "zip" or "legacy"
  size_t tensors = 0;
  std::vector<std::string> skipped;  // non-tensor values of the checkpoint, "name (kind)"
  std::string sha256;                // of the written file
};

// Reads `in`, removes `strip_prefix` from every key that starts with it, writes `out` atomically (a temporary
// file renamed into place). Throws osor::Error naming the file: unreadable checkpoint, two keys equal after
// stripping, no tensors.
CheckpointConversion convert_checkpoint_to_safetensors(const std::filesystem::path& in,
                                                       const std::filesystem::path& out,
                                                       const std::string& strip_prefix = "");

}  // namespace osor::harness
