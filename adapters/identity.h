// identity: returns the input unchanged — the lower bound every comparison table needs. Takes no options.
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

// The registry row's factory (adapters/registry.cpp): AdapterError for any option.
std::unique_ptr<Remover> make_identity_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
