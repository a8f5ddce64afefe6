#include "harness/shard.h"

#include <cstdlib>
#include <optional>

#include "harness/error.h"

namespace osor::harness {
namespace {

// A whole non-negative number, or nothing.
std::optional<int> whole_number(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoi(text);
}

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

// `what` names the option that reads the variable, for the error.
int env_number(const char* name, const std::string& what = "--shard auto") {
  const auto text = env(name);
  const auto value = text ? whole_number(*text) : std::nullopt;
  if (!value) throw HarnessError(what + ": $" + name + " is '" + text.value_or("") + "', not a whole number");
  return *value;
}

Shard checked(Shard shard, const std::string& source) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
    throw HarnessError("--shard " + source + ": shard " + std::to_string(shard.index) + " of " +
                       std::to_string(shard.count) + " does not exist (K must be 0 to N-1)");
  return shard;
}

Shard shard_from_launcher() {
  if (env("WORLD_SIZE"))
    return checked({env_number("RANK"), env_number("WORLD_SIZE")}, "auto (RANK/WORLD_SIZE)");
  if (env("SLURM_ARRAY_TASK_COUNT")) {
    const int first = env("SLURM_ARRAY_TASK_MIN") ? env_number("SLURM_ARRAY_TASK_MIN") : 0;
    return checked({env_number("SLURM_ARRAY_TASK_ID") - first, env_number("SLURM_ARRAY_TASK_COUNT")},
                   "auto (SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)");
  }
  throw HarnessError("--shard auto: neither RANK/WORLD_SIZE (torchrun) nor SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT "
                     "(a SLURM array job) is set; give --shard K/N");
}

}  // namespace

std::string Shard::text() const { return std::to_string(index) + "/" + std::to_string(count); }

Shard parse_shard(const std::string& text) {
  if (text == "auto") return shard_from_launcher();
  const size_t slash = text.find('/');
  const auto index = whole_number(text.substr(0, slash));
  const auto count = slash == std::string::npos ? std::nullopt : whole_number(text.substr(slash + 1));
  if (!index || !count) throw HarnessError("--shard " + text + ": expected K/N (e.g. 0/4) or auto");
  return checked({*index, *count}, text);
}

std::string resolve_device(const std::string& text) {
  if (text != "cuda:auto") return text;
  for (const char* name : {"LOCAL_RANK", "SLURM_LOCALID"})
    if (env(name)) return "cuda:" + std::to_string(env_number(name, "--device cuda:auto"));
  return "cuda:0";
}

}  // namespace osor::harness
