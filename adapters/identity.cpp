#include "adapters/identity.h"

#include <ATen/ATen.h>

namespace osor::adapters {

RemovalOutput IdentityRemover::remove(const RemovalInput& input) {
  RemovalOutput out;
  out.image = input.image.clone();
  return out;
}

}  // namespace osor::adapters
