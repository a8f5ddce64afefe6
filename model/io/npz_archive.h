// numpy's .npz (np.savez: a zip archive of `<name>.npy` entries, stored uncompressed) and .npy (format 1.0–3.0:
// "\x93NUMPY", version, header length, a Python-literal dict {'descr', 'fortran_order', 'shape'}, then the raw
// C-order data), read without Python: little-endian float16/32/64 and int32/64 arrays. A compressed archive
// (np.savez_compressed) is refused with a message saying how to convert it (scripts/encode_flux_prompt.py
// --from-npz). Used for OmniPaint's shipped prompt embeddings (model/io/prompt_cache.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace osor::model {

// The arrays of `path` named in `names` (the entry name without ".npy"), copied into CPU tensors of their dtype.
// ModelError naming the file and the problem (missing array, unsupported dtype, Fortran order, malformed header).
std::map<std::string, at::Tensor> read_npz(const std::filesystem::path& path, const std::vector<std::string>& names);

// One .npy held in memory; `label` names it in errors.
at::Tensor parse_npy(const unsigned char* data, size_t size, const std::string& label);

}  // namespace osor::model
