// model/host_allocator.h: after configure_host_allocator() (tests/main.cpp calls it, as the osor CLI does), large
// blocks come from the heap instead of fresh mmap()s, and the policy is reported.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "model/host_allocator.h"

TEST_CASE("host allocator: blocks of tens of MiB come from the heap, not fresh mappings (glibc)") {
#if defined(__GLIBC__)
  if (const char* choice = std::getenv("OSOR_HOST_MALLOC"); choice && std::string(choice) == "system") {
    MESSAGE("SKIPPED: $OSOR_HOST_MALLOC=system keeps glibc's defaults");
    return;
  }
  osor::model::configure_host_allocator();  // idempotent
  CHECK(osor::model::host_allocator_policy() == "glibc malloc, mmap and trim thresholds 1 GiB");
  const size_t mapped_before = mallinfo2().hblkhd;
  constexpr size_t kBytes = size_t{96} << 20;  // above glibc's largest dynamic threshold (32 MiB)
  char* raw = static_cast<char*>(std::malloc(kBytes));
  REQUIRE(raw != nullptr);
  volatile char* block = raw;  // touched, so the allocation cannot be elided
  block[0] = 1;
  block[kBytes - 1] = 1;
  const size_t mapped_during = mallinfo2().hblkhd;
  std::free(raw);
  CHECK(mapped_during == mapped_before);  // with glibc's defaults this block would be its own mmap()
#else
  osor::model::configure_host_allocator();
  CHECK(osor::model::host_allocator_policy() == "system malloc");
#endif
}
