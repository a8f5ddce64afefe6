// PyTorch checkpoints (`torch.save` files, `.pth` / `.pt` / `.bin`) read without Python and without executing
// anything: a restricted unpickler (model/io/restricted_unpickler.h) that accepts only these globals:
//   collections.OrderedDict; torch._utils._rebuild_tensor_v2, _rebuild_tensor (torch <= 0.3), _rebuild_parameter,
//   _rebuild_parameter_with_state; the typed storages torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,
//   Bool}Storage (as a persistent id's type).
// Any other global (torch.storage._load_from_bytes, a class, os.system, ...) is an error naming the file and it.
//
// Both formats torch.save has written are read:
//   zip (PyTorch >= 1.6): `<archive>/data.pkl`, storages as stored entries `<archive>/data/<key>`, optional
//     `<archive>/byteorder` ("little"; "big" is refused); persistent ids ('storage', type, key, location, numel).
//   legacy (torch 0.1.10 - 1.5, and `_use_new_zipfile_serialization=False`): pickles of the magic number
//     0x1950a86a20f9469cfc6c, the protocol version 1001 and sys_info, then the object with persistent ids
//     ('storage', type, root_key, location, numel, view) where view is None or (view_key, offset, numel), then the
//     list of storage keys, then per key an int64 element count and the raw little-endian bytes.
//     The published weights OSOR uses are of this era (torchvision vgg16-397923af.pth, LPIPS v0.1 alex/vgg.pth);
//     the tar format of torch < 0.1.10 is refused with a message.
//
// Naming: the top-level object must be a dict. Tensors reachable through nested dicts are named by their keys
// joined with '.' ({"state_dict": {"conv.weight": T}} -> "state_dict.conv.weight"; integer keys in decimal);
// every other value (numbers, strings, lists, None) is skipped and listed in `skipped`. Two tensors of one name are
// an error. A tensor's storage offset and strides are applied: each tensor's bytes are its values in row-major
// order (contiguous), aliasing the mapped file when the tensor is contiguous there, a copy otherwise.
//
// Every size read from the file is checked against the file before it is used (no allocation from a corrupt
// length); every failure is an osor::ModelError naming the file and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace osor::model {

struct CheckpointTensor {
  std::string name;
  std::string dtype;            // safetensors' names: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL
  std::vector<int64_t> shape;
  const unsigned char* data = nullptr;  // contiguous row-major bytes, valid while the checkpoint lives
  uint64_t nbytes = 0;
};

class PytorchCheckpoint {
 public:
  // Memory-maps the file and reads it. Throws ModelError.
  static PytorchCheckpoint read(const std::filesystem::path& path);
  // Reads an in-memory file image (copied); `label` names it in messages. Same checks as read().
  static PytorchCheckpoint parse(const void* bytes, size_t size, const std::string& label);

  const std::string& format() const { return format_; }          // "zip" or "legacy"
  const std::vector<CheckpointTensor>& tensors() const { return tensors_; }  // sorted by name
  const std::vector<std::string>& skipped() const { return skipped_; }       // "name (kind)" of non-tensor values
  const CheckpointTensor* find(const std::string& name) const;

 private:
  struct Buffer;
  std::shared_ptr<const Buffer> buffer_;            // the mapped (or copied) file
  std::vector<std::vector<unsigned char>> copies_;  // bytes of tensors that were not contiguous in the file
  std::string format_;
  std::vector<CheckpointTensor> tensors_;
  std::vector<std::string> skipped_;
  friend class CheckpointReader;
};

// Element size of a safetensors dtype name (F32 -> 4); 0 when unknown.
size_t checkpoint_dtype_size(const std::string& dtype);

}  // namespace osor::model
