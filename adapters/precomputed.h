// precomputed: outputs produced beforehand by a method's official code, one image per sample in a folder,
// matched by file stem (any image extension). Options:
//   dir=PATH      the folder; "{bench}" and "{masks}" are replaced by the benchmark name and the mask
//                 setting (object|effect), for methods run once per setting
//   filter=NAME   how an output of another size is resized back to the input's size: cubic (default,
//                 OpenCV bicubic a=-0.75), linear, area, lanczos, nearest — recorded in the method id
//   name=LABEL    the method's label in tables and `osor compare` (default: the folder name); not part of the id
#pragma once

#include "adapters/remover.h"

namespace osor::adapters {

class PrecomputedRemover final : public Remover {
 public:
  explicit PrecomputedRemover(const MethodSpec& spec);
  std::string id() const override;
  RemovalOutput remove(const RemovalInput& input) override;
  bool thread_safe() const override { return true; }

 private:
  std::string dir_, filter_ = "cubic";
};

}  // namespace osor::adapters
