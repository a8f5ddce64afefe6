// A restricted reader of Python pickles (protocols 0-5, the opcodes of Lib/pickletools.py that plain data uses):
// it builds a tree of plain values and never executes anything. GLOBAL / STACK_GLOBAL name a callable only when
// the caller's allow-list accepts "module.name"; REDUCE hands such a callable and its argument tuple to the caller,
// which returns the value it stands for; persistent ids (BINPERSID) go to the caller too. Everything else a pickle
// can do (instantiate classes, extensions, INST/OBJ/NEWOBJ) is refused. Values live in one arena owned by the
// result, so a hostile, deeply nested pickle is freed without recursion. Errors are ModelError naming the label,
// the byte offset and the problem (bad opcode, truncated, stack underflow, a global that is not allowed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace osor::model {

struct PickleValue {
  enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, List, Tuple, Dict, Global, Object };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;                   // Int; also the caller's handle of an Object
  double real = 0;                       // Float
  std::string text;                      // String (UTF-8), Bytes, BigInt (little-endian two's complement), Global
                                         // ("module.name"), Object (the caller's type name)
  std::vector<const PickleValue*> items;  // List, Tuple
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  // Dict, in insertion order
};

// What a pickle may refer to outside itself; each callback returns a value made with PickleArena::make.
class PickleArena;
struct PickleRules {
  std::function<bool(const std::string& global)> global_allowed;
  // (callable "module.name", argument tuple) -> value
  std::function<PickleValue*(PickleArena&, const std::string&, const PickleValue&)> call;
  // persistent id -> value; empty when the pickle may have none
  std::function<PickleValue*(PickleArena&, const PickleValue&)> persistent_load;
};

class PickleArena {
 public:
  PickleValue* make(PickleValue::Kind kind);
  size_t size() const { return values_.size(); }

 private:
  std::vector<std::unique_ptr<PickleValue>> values_;
};

struct UnpickleResult {
  std::shared_ptr<PickleArena> arena;
  const PickleValue* root = nullptr;
  size_t consumed = 0;  // bytes read up to and including STOP: the next pickle of a stream starts there
};

// Reads one pickle from `data` (up to its STOP). `label` names the file (and part) in error messages.
UnpickleResult unpickle(const unsigned char* data, size_t size, const PickleRules& rules, const std::string& label);

// "dict", "tensor", ...: a value's kind in words, for messages.
std::string pickle_kind_name(const PickleValue& value);

}  // namespace osor::model
