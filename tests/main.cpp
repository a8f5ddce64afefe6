#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "model/host_allocator.h"

// The tests run under the same host allocator policy as the osor CLI (model/host_allocator.h).
int main(int argc, char** argv) {
  osor::model::configure_host_allocator();
  doctest::Context context(argc, argv);
  return context.run();
}
