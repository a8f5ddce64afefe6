#include "model/train/data_parallel_env.h"

#include <charconv>
#include <cstdlib>

#include "model/error.h"

namespace osor::model::train {
namespace {

using Lookup = std::function<std::optional<std::string>(const std::string&)>;

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw ModelError("environment variable " + name + " " + problem +
                   " (a data-parallel job is described by torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and "
                   "MASTER_PORT; see docs/training.md)");
}

// The whole value must be a decimal integer in [min, max]: "1x", "", " 1" and "1.0" are refused.
int integer_variable(const std::string& name, const std::string& value, long min, long max) {
  long parsed = 0;
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || ec != std::errc() || ptr != end) fail(name, "is '" + value + "', not an integer");
  if (parsed < min || parsed > max) {
    fail(name, "is " + value + ", outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int>(parsed);
}

constexpr long kMaxProcesses = 1 << 20;

void read_rendezvous(const Lookup& lookup, DistributedEnv& env) {
  const auto addr = lookup("MASTER_ADDR"), port = lookup("MASTER_PORT");
  const std::string unset = "is not set (WORLD_SIZE is " + std::to_string(env.world_size) + ")";
  if (env.distributed() && !addr) fail("MASTER_ADDR", unset);
  if (env.distributed() && !port) fail("MASTER_PORT", unset);
  if (addr) {
    if (addr->empty()) fail("MASTER_ADDR", "is empty");
    env.master_addr = *addr;
  }
  if (port) env.master_port = integer_variable("MASTER_PORT", *port, 1, 65535);
}

}  // namespace

DistributedEnv DistributedEnv::from_variables(const Lookup& lookup) {
  DistributedEnv env;
  const auto rank = lookup("RANK"), world = lookup("WORLD_SIZE");
  if (rank.has_value() != world.has_value()) {
    fail(rank ? "WORLD_SIZE" : "RANK", std::string("is not set but ") + (rank ? "RANK" : "WORLD_SIZE") + " is");
  }
  if (world) {
    env.world_size = integer_variable("WORLD_SIZE", *world, 1, kMaxProcesses);
    env.rank = integer_variable("RANK", *rank, 0, kMaxProcesses);
    if (env.rank >= env.world_size) {
      fail("RANK", "is " + *rank + ", not below WORLD_SIZE " + std::to_string(env.world_size));
    }
  }
  if (const auto local = lookup("LOCAL_RANK")) {
    env.local_rank = integer_variable("LOCAL_RANK", *local, 0, kMaxProcesses);
  }
  read_rendezvous(lookup, env);
  env.agent_store = lookup("TORCHELASTIC_USE_AGENT_STORE") == std::optional<std::string>("True");
  return env;
}

DistributedEnv DistributedEnv::from_environment() {
  return from_variables([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

c10::Device DistributedEnv::local_device(c10::Device requested) const {
  if (requested.is_cuda() && !requested.has_index()) {
    return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(local_rank));
  }
  return requested;
}

}  // namespace osor::model::train
