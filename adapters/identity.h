// identity: returns the input unchanged — the lower bound every comparison table needs.
#pragma once

#include "adapters/remover.h"

namespace osor::adapters {

class IdentityRemover final : public Remover {
 public:
  std::string id() const override { return "identity"; }
  RemovalOutput remove(const RemovalInput& input) override;
};

}  // namespace osor::adapters
