// How many CPU threads LibTorch's intra-op pool uses in OSOR's processes. LibTorch sizes it from the physical cores
// it believes the machine has, which on some VMs is fewer than the cores the process may use (Debian's 1.13 on the
// 2-core development VM: 1 thread; measured there, 2 threads make FID's Inception 1.8× and LPIPS-Alex 1.85×
// faster). configure_cpu_threads() uses every core the process may run on (sched_getaffinity: taskset, cgroups
// cpusets, SLURM's --cpus-per-task) unless told otherwise: `osor --threads N`, else $OSOR_NUM_THREADS, else
// $OMP_NUM_THREADS (LibTorch's own setting), else the usable cores. The value is recorded with latency results
// (device.cpu_threads) and in the tables' latency note.
#pragma once

#include <string>

namespace osor::model {

// The cores this process may run on (at least 1).
int usable_cpu_cores();

// Sets the intra-op thread count: `requested` when > 0, else as described above. Returns where the number came from
// ("--threads", "$OSOR_NUM_THREADS", "$OMP_NUM_THREADS", "usable cores"). Throws ModelError for an environment
// value that is not a positive whole number.
std::string configure_cpu_threads(int requested = 0);

// The calling thread's intra-op thread count, from construction to destruction (then the previous one again).
// LibTorch's count is per thread for its OpenMP pool: the runner's pipeline threads each decode and score one image
// with one thread (several images in parallel keep the cores busy without OpenMP teams competing for them), and
// give the method call and the feature networks the configured count.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int threads);
  ~IntraOpThreads();
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int previous_;
};

// The count configure_cpu_threads chose (the usable cores before it was called).
int configured_cpu_threads();

}  // namespace osor::model
