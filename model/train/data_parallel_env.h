// Where this process sits in a data-parallel job, read from the environment torchrun sets (and that a SLURM script
// sets the same way): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. None of RANK and WORLD_SIZE set means
// one process (world size 1); a malformed or inconsistent value is an error that names the variable.
// TORCHELASTIC_USE_AGENT_STORE is read as torch.distributed reads it (see agent_store).
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <optional>
#include <string>

namespace osor::model::train {

struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;                    // the process's index on its machine: its GPU is cuda:LOCAL_RANK
  std::string master_addr = "127.0.0.1";  // where rank 0 hosts the rendezvous store
  int master_port = 29500;
  // torchrun (LibTorch 2.x's elastic agent) already hosts the store at MASTER_ADDR:MASTER_PORT and says so with
  // TORCHELASTIC_USE_AGENT_STORE=True: then every rank, rank 0 included, connects to it as a client.
  bool agent_store = false;

  bool distributed() const { return world_size > 1; }

  // The device this process trains on: `requested` itself, except a CUDA device without an index, which becomes
  // cuda:LOCAL_RANK (torchrun's one-process-per-GPU convention).
  c10::Device local_device(c10::Device requested) const;

  static DistributedEnv from_environment();  // std::getenv
  // The same rules over any variable source (tests): `lookup(name)` is the variable's value, or nullopt if unset.
  static DistributedEnv from_variables(const std::function<std::optional<std::string>(const std::string&)>& lookup);
};

}  // namespace osor::model::train
