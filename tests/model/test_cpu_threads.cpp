// model/cpu_threads.h: the intra-op thread count of OSOR's processes and where it comes from.
#include <doctest/doctest.h>

#include <ATen/Parallel.h>

#include <cstdlib>

#include "model/cpu_threads.h"
#include "model/error.h"

using osor::model::configure_cpu_threads;

TEST_CASE("cpu threads: --threads, then $OSOR_NUM_THREADS, then $OMP_NUM_THREADS, else every usable core") {
  ::unsetenv("OSOR_NUM_THREADS");
  ::unsetenv("OMP_NUM_THREADS");
  const int cores = osor::model::usable_cpu_cores();
  CHECK(cores >= 1);
  CHECK(configure_cpu_threads() == "usable cores");
  CHECK(at::get_num_threads() == cores);
  ::setenv("OMP_NUM_THREADS", "1", 1);
  CHECK(configure_cpu_threads() == "$OMP_NUM_THREADS");
  CHECK(at::get_num_threads() == 1);
  ::setenv("OSOR_NUM_THREADS", "3", 1);
  CHECK(configure_cpu_threads() == "$OSOR_NUM_THREADS");
  CHECK(at::get_num_threads() == 3);
  CHECK(configure_cpu_threads(2) == "--threads");
  CHECK(at::get_num_threads() == 2);
  ::setenv("OSOR_NUM_THREADS", "two", 1);
  CHECK_THROWS_WITH_AS(configure_cpu_threads(), doctest::Contains("$OSOR_NUM_THREADS is 'two'"), osor::ModelError);
  ::setenv("OSOR_NUM_THREADS", "0", 1);
  CHECK_THROWS_AS(configure_cpu_threads(), osor::ModelError);
  ::unsetenv("OSOR_NUM_THREADS");
  ::unsetenv("OMP_NUM_THREADS");
}
