#include "model/host_allocator.h"

#include <cstdlib>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace osor::model {
namespace {

std::string& policy() {
  static std::string text = "not configured";
  return text;
}

}  // namespace

void configure_host_allocator() {
  const char* choice = std::getenv("OSOR_HOST_MALLOC");
#if defined(__GLIBC__)
  if (choice != nullptr && std::string(choice) == "system") {
    policy() = "glibc malloc defaults ($OSOR_HOST_MALLOC=system)";
    return;
  }
  constexpr int kThreshold = 1 << 30;  // 1 GiB (mallopt takes an int)
  // Setting the mmap threshold also turns off glibc's dynamic adjustment of it.
  const bool ok = mallopt(M_MMAP_THRESHOLD, kThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kThreshold) == 1;
  policy() = ok ? "glibc malloc, mmap and trim thresholds 1 GiB" : "glibc malloc defaults (mallopt refused 1 GiB)";
#else
  (void)choice;
  policy() = "system malloc";
#endif
}

std::string host_allocator_policy() { return policy(); }

}  // namespace osor::model
