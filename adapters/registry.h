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

// Throws AdapterError for a method name no row has (listing the known ones): lets a run refuse a bad --method
// before it creates anything.
void check_method_known(const MethodSpec& spec);

// The method's label in tables, galleries, results.json and `osor compare`: name=LABEL when given, else a short
// default — the family name when no options are given, the folder name for precomputed (its last component
// without a {bench}/{masks} placeholder), the program's file name for command, else the canonical method text.
std::string method_label(const MethodSpec& spec);

// Throws AdapterError for an unknown name (listing the known ones) or bad options.
std::unique_ptr<Remover> make_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
