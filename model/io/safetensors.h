// safetensors weights files (https://github.com/huggingface/safetensors, format version 0.x): a u64
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}}, then the raw little-endian row-major data. The reader memory-maps the file and checks
// everything a malformed or hostile file could get wrong (header length, JSON, no key twice in any object,
// dtype, shape × itemsize = byte count, offsets in range) before any tensor is handed out. As the reference
// parser's `validate`, the tensors' [begin,end) offsets sorted by begin must tile the data section exactly: from
// 0 to its end, no gap, no overlap, no trailing bytes. Every failure is an osor::ModelError naming the file and
// the problem. No pickle is ever read.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osor::model {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;             // as written in the file: F32, F16, BF16, F64, I64, I32, U8, BOOL
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;   // byte offsets relative to the start of the data section
};

class SafetensorsFile {
 public:
  // Maps the file read-only and validates its header. Throws ModelError.
  static SafetensorsFile open(const std::filesystem::path& path);
  // Parses an in-memory file image (copied); `label` names it in error messages. Same checks as open();
  // this is the entry point of the fuzz test.
  static SafetensorsFile parse(const void* bytes, size_t size, const std::string& label);

  const std::string& label() const;                 // the path (or label) used in messages
  std::vector<std::string> names() const;           // tensor names, in file order of their data offsets
  bool contains(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;  // throws ModelError if absent
  // The tensor on the CPU, with its file dtype. It aliases the mapping (read-only memory, kept alive for as
  // long as the tensor lives): clone it before writing to it.
  at::Tensor tensor(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const;

 private:
  struct Mapping;
  std::shared_ptr<const Mapping> mapping_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any device; contiguous copies are made on the CPU) with their own dtypes, in the given
// order, and `metadata` as "__metadata__". Atomic: a temporary file in the same folder is renamed over `path`.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace osor::model
