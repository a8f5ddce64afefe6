#include "model/cpu_threads.h"

#include <ATen/Parallel.h>
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "model/error.h"

namespace osor::model {
namespace {

// The value of a thread-count variable: 0 when unset or empty.
int thread_count_from_env(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 1 || value > 4096)
    throw ModelError(std::string("$") + name + " is '" + text + "': expected a whole number of threads from 1 to 4096");
  return static_cast<int>(value);
}

std::atomic<int> g_configured{0};

}  // namespace

int usable_cpu_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

std::string configure_cpu_threads(int requested) {
  std::string source = "--threads";
  int threads = requested;
  for (const char* name : {"OSOR_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (threads > 0) break;
    threads = thread_count_from_env(name);
    source = std::string("$") + name;
  }
  if (threads <= 0) {
    threads = usable_cpu_cores();
    source = "usable cores";
  }
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
  g_configured = threads;
  return source;
}

int configured_cpu_threads() {
  const int threads = g_configured.load();
  return threads > 0 ? threads : usable_cpu_cores();
}

IntraOpThreads::IntraOpThreads(int threads) : previous_(at::get_num_threads()) {
  if (threads > 0 && threads != previous_) at::set_num_threads(threads);
}

IntraOpThreads::~IntraOpThreads() {
  if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
}

}  // namespace osor::model
