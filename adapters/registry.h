// The method registry: every removal method family is one row, made here by name (CLI --method, `osor list`).
// A row holds what the registry knows of its family: the summary with its options, whether it needs OpenCV, its
// factory and its default label. Adding a family is one file (its Remover) plus one row.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "adapters/remover.h"

namespace osor::adapters {

struct MethodEntry {
  std::string name;
  std::string summary;        // one line, with its options
  bool needs_opencv = false;  // reads or writes image files: built only with OSOR_WITH_OPENCV (adapters/CMakeLists)
  // Builds the remover; AdapterError for bad options, missing weights, ...
  std::unique_ptr<Remover> (*make)(const MethodSpec& spec, const RemoverContext& context) = nullptr;
  // The label when neither name= nor options say otherwise (see method_label); nullptr or "" for none.
  std::string (*default_label)(const MethodSpec& spec) = nullptr;
};

// The families this build can make, in table order (those that need OpenCV only in builds with it).
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
