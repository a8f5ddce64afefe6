#include "adapters/registry.h"

#include "adapters/error.h"
#include "adapters/identity.h"
#include "adapters/osor_sdxl.h"

namespace osor::adapters {

const std::vector<MethodEntry>& method_entries() {
  static const std::vector<MethodEntry> entries = {
      {"identity", "returns the input unchanged (lower bound)"},
      {"osor-sdxl", "OSOR one-step removal on SDXL-Inpainting (in-tree); options short_side=512, t=400, lora=merged|runtime, alpha=input|processing, noise=FILE"},
  };
  return entries;
}

std::unique_ptr<Remover> make_remover(const MethodSpec& spec, const RemoverContext& context) {
  if (spec.name == "identity") {
    if (!spec.options.empty()) throw AdapterError("method identity takes no options (got " + spec.text() + ")");
    return std::make_unique<IdentityRemover>();
  }
  if (spec.name == "osor-sdxl") return std::make_unique<OsorSdxlRemover>(spec, context);
  std::string known;
  for (const auto& e : method_entries()) known += (known.empty() ? "" : ", ") + e.name;
  throw AdapterError("unknown method '" + spec.name + "' (known: " + known + ")");
}

}  // namespace osor::adapters
