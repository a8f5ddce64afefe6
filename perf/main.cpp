#include <benchmark/benchmark.h>

#include "model/host_allocator.h"

// The benchmarks measure under the osor CLI's host allocator policy (model/host_allocator.h).
int main(int argc, char** argv) {
  osor::model::configure_host_allocator();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
