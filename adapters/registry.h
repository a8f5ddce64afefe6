// The method registry: every removal method is made here by name (CLI --method, `osor list`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "adapters/remover.h"

namespace osor::adapters {

struct MethodEntry {
  std::string name;
  std::string summary;  // one line, with its options
};

const std::vector<MethodEntry>& method_entries();

// Throws AdapterError for an unknown name (listing the known ones) or bad options.
std::unique_ptr<Remover> make_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
