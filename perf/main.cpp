#include <benchmark/benchmark.h>

#include "model/cpu_threads.h"
#include "model/host_allocator.h"

// The benchmarks measure under the osor CLI's host allocator policy (model/host_allocator.h) and CPU thread count
// (model/cpu_threads.h: every usable core unless $OSOR_NUM_THREADS or $OMP_NUM_THREADS says otherwise); the pixel
// and set-metric benchmarks pin their own single thread.
int main(int argc, char** argv) {
  osor::model::configure_host_allocator();
  osor::model::configure_cpu_threads();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
