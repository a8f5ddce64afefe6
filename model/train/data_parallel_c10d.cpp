#include "model/train/data_parallel_c10d.h"

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <cstddef>
#include <cstdint>

namespace osor::model::train {
namespace {

// c10::Error's what() carries a C++ backtrace; the one-line message is enough for a user.
std::string error_text(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) return c10_error->what_without_backtrace();
  return error.what();
}

// What to check when the store cannot be reached. LibTorch 1.x's TCPStore client does not speak the protocol of
// the store torch 2.x's torchrun hosts itself: then torchrun must leave the store to rank 0.
std::string rendezvous_hint(const DistributedEnv& env) {
  if (env.agent_store && TORCH_VERSION_MAJOR < 2) {
    return " (this osor is built on LibTorch " + std::string(TORCH_VERSION) +
           ", whose store client cannot use torchrun 2.x's own store: run torchrun with "
           "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 and --standalone or --rdzv-backend c10d)";
  }
  if (env.rank == 0 && !env.agent_store) return " (is MASTER_PORT free, and did every rank start?)";
  return " (is rank 0 running, and is MASTER_ADDR reachable from here?)";
}

std::string describe(const DistributedEnv& env) {
  return "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ", store " +
         env.master_addr + ":" + std::to_string(env.master_port) + (env.agent_store ? " hosted by torchrun" : "");
}

}  // namespace

c10::intrusive_ptr<c10d::Store> connect_rendezvous_store(const DistributedEnv& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = env.rank == 0 && !env.agent_store;
  // As torch.distributed: every rank counts itself in, and the host returns only once all have (LibTorch 1.13 counts
  // a rank in only when it waits too).
  options.numWorkers = static_cast<std::size_t>(env.world_size);
  options.waitWorkers = true;
  options.timeout = timeout;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    // torchrun's agent store holds the agent's own keys too: ours live under a prefix, as torch.distributed's do.
    return c10::make_intrusive<c10d::PrefixStore>("osor", store);
  } catch (const std::exception& e) {
    throw ModelError("data-parallel rendezvous failed (" + describe(env) + ", timeout " +
                     std::to_string(timeout.count()) + " ms): " + error_text(e) + rendezvous_hint(env));
  }
}

void rethrow_collective_error(const char* what, const std::exception& error, const std::string& backend, int rank,
                              int world) {
  throw ModelError("data-parallel " + std::string(what) + " failed (" + backend + ", rank " + std::to_string(rank) +
                   " of " + std::to_string(world) + "): " + error_text(error));
}

}  // namespace osor::model::train
