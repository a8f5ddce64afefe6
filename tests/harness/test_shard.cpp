// harness/shard.h: the K/N text, what torchrun and SLURM say, the GPU of a local rank, and which items a shard owns.
#include <doctest/doctest.h>

#include <cstdlib>

#include "harness/error.h"
#include "harness/shard.h"

using osor::harness::parse_shard;
using osor::harness::resolve_device;

namespace {

void clear_launcher_variables() {
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                           "SLURM_ARRAY_TASK_MIN", "SLURM_LOCALID"})
    ::unsetenv(name);
}

}  // namespace

TEST_CASE("shard K/N: parsed, checked, and every item owned by exactly one shard") {
  const auto shard = parse_shard("2/5");
  CHECK(shard.index == 2);
  CHECK(shard.count == 5);
  CHECK(shard.text() == "2/5");
  for (const char* bad : {"5/5", "1", "a/3", "-1/3", "1/0", "1/3/4", ""})
    CHECK_THROWS_AS(parse_shard(bad), osor::HarnessError);
  for (int64_t item = 0; item < 50; ++item) {
    int owners = 0;
    for (int k = 0; k < 5; ++k) owners += parse_shard(std::to_string(k) + "/5").owns(item) ? 1 : 0;
    CHECK(owners == 1);
  }
  CHECK(osor::harness::Shard{}.whole());
}

TEST_CASE("shard auto: torchrun's RANK/WORLD_SIZE, else a SLURM array's task id from its first id") {
  clear_launcher_variables();
  CHECK_THROWS_WITH_AS(parse_shard("auto"), doctest::Contains("give --shard K/N"), osor::HarnessError);
  ::setenv("SLURM_ARRAY_TASK_ID", "12", 1);
  ::setenv("SLURM_ARRAY_TASK_MIN", "10", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
  CHECK(parse_shard("auto").text() == "2/4");
  ::setenv("RANK", "3", 1);
  ::setenv("WORLD_SIZE", "8", 1);
  CHECK(parse_shard("auto").text() == "3/8");  // torchrun first
  ::setenv("RANK", "x", 1);
  CHECK_THROWS_WITH_AS(parse_shard("auto"), doctest::Contains("$RANK is 'x'"), osor::HarnessError);
  ::setenv("RANK", "8", 1);
  CHECK_THROWS_AS(parse_shard("auto"), osor::HarnessError);
  clear_launcher_variables();
}

TEST_CASE("cuda:auto is the GPU of the local rank, other devices pass through") {
  clear_launcher_variables();
  CHECK(resolve_device("cpu") == "cpu");
  CHECK(resolve_device("cuda:1") == "cuda:1");
  CHECK(resolve_device("cuda:auto") == "cuda:0");
  ::setenv("SLURM_LOCALID", "2", 1);
  CHECK(resolve_device("cuda:auto") == "cuda:2");
  ::setenv("LOCAL_RANK", "5", 1);
  CHECK(resolve_device("cuda:auto") == "cuda:5");
  clear_launcher_variables();
}
