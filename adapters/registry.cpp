#include "adapters/registry.h"

#include "adapters/error.h"
#include "adapters/identity.h"

namespace osor::adapters {

const std::vector<MethodEntry>& method_entries() {
  static const std::vector<MethodEntry> entries = {
      {"identity", "returns the input unchanged (lower bound)"},
  };
  return entries;
}

std::unique_ptr<Remover> make_remover(const MethodSpec& spec, const RemoverContext& context) {
  if (spec.name == "identity") {
    if (!spec.options.empty()) throw AdapterError("method identity takes no options (got " + spec.text() + ")");
    return std::make_unique<IdentityRemover>();
  }
  std::string known;
  for (const auto& e : method_entries()) known += (known.empty() ? "" : ", ") + e.name;
  throw AdapterError("unknown method '" + spec.name + "' (known: " + known + ")");
}

}  // namespace osor::adapters
