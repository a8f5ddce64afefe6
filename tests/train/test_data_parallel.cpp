// Data parallelism (model/train/data_parallel.h): torchrun's environment, the world-size-1 no-op, and real
// multi-process collectives over c10d's Gloo on the CPU. The two-process tests start this test binary twice more
// (posix_spawn of /proc/self/exe, never fork() of a process that already runs torch's threads), each selecting the
// skipped worker test case below; the workers write what they computed to safetensors files the parent checks.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model/io/safetensors.h"
#include "model/train/data_parallel.h"
#include "tests/test_paths.h"
#include "tests/train/spawned_workers.h"

extern char** environ;

using namespace osor::model::train;
using osor::test::free_port;
using osor::test::read_text;
using osor::test::spawn_worker;
using osor::test::wait_for;
using osor::test::Worker;

namespace {

namespace fs = std::filesystem;

DistributedEnv env_of(const std::map<std::string, std::string>& variables) {
  return DistributedEnv::from_variables([&](const std::string& name) -> std::optional<std::string> {
    const auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  });
}

// Rank-dependent inputs, recomputed by the parent: values with full mantissas, several shapes, both float dtypes,
// a 0-d tensor, a non-contiguous one, and one larger than the bucket (the worker uses 64-byte buckets).
std::vector<std::pair<std::string, at::Tensor>> reduce_inputs(int rank) {
  const double r = rank + 1.0;
  auto values = [&](int64_t n, at::ScalarType dtype, double phase) {
    return (at::sin(at::arange(n, at::TensorOptions(dtype)) * (0.7 * r) + phase) * (3.0 * r)).to(dtype);
  };
  return {{"f32_3x4", values(12, at::kFloat, 0.1).reshape({3, 4})},
          {"f64_5", values(5, at::kDouble, 0.2)},
          {"f32_2x3x2", values(12, at::kFloat, 0.3).reshape({2, 3, 2})},
          {"f32_scalar", values(1, at::kFloat, 0.4).reshape({})},
          {"f64_7x1", values(7, at::kDouble, 0.5).reshape({7, 1})},
          {"f32_transposed", values(20, at::kFloat, 0.6).reshape({4, 5}).t()},
          {"f32_large", values(100, at::kFloat, 0.7)}};
}

std::vector<std::pair<std::string, at::Tensor>> broadcast_inputs(int rank) {
  auto parameter = (at::arange(6, at::kFloat) * (rank + 1) - 0.25).reshape({2, 3}).set_requires_grad(true);
  return {{"parameter", parameter},
          {"buffer_f64", at::full({4}, 1.0 / (rank + 3), at::kDouble)},
          {"steps_i64", at::full({2}, 1000 + rank, at::kLong)}};
}

std::vector<at::Tensor> tensors_of(const std::vector<std::pair<std::string, at::Tensor>>& named) {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> with_prefix(const std::string& prefix,
                                                           const std::vector<std::pair<std::string, at::Tensor>>& named,
                                                           const std::vector<at::Tensor>& tensors) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < named.size(); ++i) out.emplace_back(prefix + named[i].first, tensors[i].detach());
  return out;
}

void check_equal(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  INFO(what);
  REQUIRE(std::string(c10::toString(actual.scalar_type())) == c10::toString(expected.scalar_type()));
  REQUIRE_MESSAGE(actual.sizes().equals(expected.sizes()), actual.sizes() << " vs " << expected.sizes());
  const double difference = (actual.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>();
  CHECK_MESSAGE(at::equal(actual, expected), "max |difference| " << difference);
}

}  // namespace

TEST_CASE("data parallel: torchrun environment, absent means one process, malformed names the variable") {
  const DistributedEnv single = env_of({});
  CHECK(single.rank == 0);
  CHECK(single.world_size == 1);
  CHECK_FALSE(single.distributed());

  const DistributedEnv env = env_of(
      {{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node07"}, {"MASTER_PORT", "29400"}});
  CHECK(env.rank == 3);
  CHECK(env.world_size == 8);
  CHECK(env.local_rank == 1);
  CHECK(env.master_addr == "node07");
  CHECK(env.master_port == 29400);
  CHECK(env.distributed());
  CHECK(env.local_device(c10::Device("cuda")) == c10::Device("cuda:1"));
  CHECK(env.local_device(c10::Device("cuda:0")) == c10::Device("cuda:0"));
  CHECK(env.local_device(c10::Device("cpu")) == c10::Device("cpu"));

  const std::map<std::string, std::string> good = {
      {"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& name, const std::optional<std::string>& value) {
    auto variables = good;
    if (value) {
      variables[name] = *value;
    } else {
      variables.erase(name);
    }
    return variables;
  };
  CHECK(env_of(good).local_rank == 0);
  CHECK_FALSE(env_of(good).agent_store);
  CHECK(env_of(with("TORCHELASTIC_USE_AGENT_STORE", "True")).agent_store);
  CHECK_FALSE(env_of(with("TORCHELASTIC_USE_AGENT_STORE", "False")).agent_store);
  CHECK_THROWS_WITH_AS(env_of(with("WORLD_SIZE", "two")),
                       doctest::Contains("environment variable WORLD_SIZE is 'two', not an integer"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("WORLD_SIZE", "0")),
                       doctest::Contains("WORLD_SIZE is 0, outside [1,"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("RANK", "2")),
                       doctest::Contains("RANK is 2, not below WORLD_SIZE 2"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("RANK", "-1")), doctest::Contains("RANK is -1, outside [0,"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("RANK", "1 ")), doctest::Contains("RANK is '1 ', not an integer"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("RANK", std::nullopt)),
                       doctest::Contains("RANK is not set but WORLD_SIZE is"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("WORLD_SIZE", std::nullopt)),
                       doctest::Contains("WORLD_SIZE is not set but RANK is"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("MASTER_ADDR", std::nullopt)),
                       doctest::Contains("MASTER_ADDR is not set (WORLD_SIZE is 2)"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("MASTER_ADDR", "")), doctest::Contains("MASTER_ADDR is empty"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("MASTER_PORT", std::nullopt)),
                       doctest::Contains("MASTER_PORT is not set"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("MASTER_PORT", "70000")),
                       doctest::Contains("MASTER_PORT is 70000, outside [1, 65535]"), std::exception);
  CHECK_THROWS_WITH_AS(env_of(with("LOCAL_RANK", "x")),
                       doctest::Contains("LOCAL_RANK is 'x', not an integer"), std::exception);
  // World size 1 needs no rendezvous address.
  CHECK_FALSE(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).distributed());
}

TEST_CASE("data parallel: world size 1 is a no-op that creates no c10d group and still checks its arguments") {
  DataParallelGroup group(DistributedEnv{}, c10::Device("cpu"));
  CHECK(group.backend() == "none");
  CHECK(group.rank() == 0);
  CHECK(group.world_size() == 1);
  CHECK(group.is_main());
  auto named = reduce_inputs(0);
  std::vector<at::Tensor> tensors = tensors_of(named), before;
  for (const auto& t : tensors) before.push_back(t.clone());
  group.all_reduce_mean(tensors);
  group.broadcast(tensors, 0);
  group.barrier();
  for (size_t i = 0; i < tensors.size(); ++i) CHECK(at::equal(tensors[i], before[i]));

  std::vector<at::Tensor> integer = {at::ones({2}, at::kLong)};
  CHECK_THROWS_WITH_AS(group.all_reduce_mean(integer),
                       doctest::Contains("tensor 0 has dtype Long: only floating-point tensors are averaged"),
                       std::exception);
  std::vector<at::Tensor> undefined = {at::ones({2}), at::Tensor()};
  CHECK_THROWS_WITH_AS(group.all_reduce_mean(undefined), doctest::Contains("tensor 1 is undefined"), std::exception);
  CHECK_THROWS_WITH_AS(group.broadcast(tensors, 1),
                       doctest::Contains("root 1 is not a rank of a world of size 1"), std::exception);
}

// Runs only as a worker of the test below (OSOR_TEST_DIST_WORKER names the folder for its results).
constexpr const char* kWorker = "data parallel: worker process*";

TEST_CASE("data parallel: worker process of the two-process Gloo test" * doctest::skip()) {
  const char* folder = std::getenv("OSOR_TEST_DIST_WORKER");
  if (folder == nullptr) return;
  const DistributedEnv env = DistributedEnv::from_environment();
  DataParallelOptions options;
  options.timeout = std::chrono::seconds(60);
  options.bucket_bytes = 64;  // several buckets per dtype, and one tensor larger than a bucket
  DataParallelGroup group(env, c10::Device("cpu"), options);
  REQUIRE(group.backend() == "gloo");

  const auto reduce = reduce_inputs(env.rank);
  std::vector<at::Tensor> reduced = tensors_of(reduce);
  group.all_reduce_mean(reduced);
  const auto from0 = broadcast_inputs(env.rank), from1 = broadcast_inputs(env.rank);
  std::vector<at::Tensor> broadcast0 = tensors_of(from0), broadcast1 = tensors_of(from1);
  group.broadcast(broadcast0, 0);
  group.broadcast(broadcast1, 1);
  group.barrier();

  auto results = with_prefix("mean.", reduce, reduced);
  for (auto& entry : with_prefix("from0.", from0, broadcast0)) results.push_back(entry);
  for (auto& entry : with_prefix("from1.", from1, broadcast1)) results.push_back(entry);
  results.emplace_back("parameter_requires_grad", at::scalar_tensor(broadcast0[0].requires_grad() ? 1 : 0, at::kLong));
  osor::model::write_safetensors(fs::path(folder) / ("rank" + std::to_string(env.rank) + ".safetensors"), results);
}

TEST_CASE("data parallel: two Gloo processes average gradients exactly and broadcast rank 0's parameters") {
  if (!DataParallelGroup::available(c10::Device("cpu"))) {
    MESSAGE("SKIPPED: this build has no c10d Gloo back end (Gloo's headers, libgloo-dev, were not found)");
    return;
  }
  const fs::path folder = osor::test::process_scratch_dir("data_parallel");
  const int port = free_port();
  const auto start = std::chrono::steady_clock::now();
  std::vector<Worker> workers = {spawn_worker(folder, 0, 2, port, kWorker), spawn_worker(folder, 1, 2, port, kWorker)};
  const std::vector<int> status = wait_for(workers, std::chrono::seconds(120));
  MESSAGE("two Gloo workers (start, rendezvous, collectives, exit): "
          << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  for (size_t rank = 0; rank < workers.size(); ++rank) {
    REQUIRE_MESSAGE(status[rank] == 0, "worker " << rank << " exited with " << status[rank] << ":\n"
                                                 << read_text(workers[rank].log));
  }

  const auto in0 = reduce_inputs(0), in1 = reduce_inputs(1);
  const auto b0 = broadcast_inputs(0), b1 = broadcast_inputs(1);
  for (int rank = 0; rank < 2; ++rank) {
    const auto file = osor::model::SafetensorsFile::open(folder / ("rank" + std::to_string(rank) + ".safetensors"));
    const std::string on = "rank " + std::to_string(rank) + ": ";
    for (size_t i = 0; i < in0.size(); ++i) {
      // Two ranks: the sum is one rounding, the halving exact, so the mean is bit-exact in the tensor's dtype.
      const at::Tensor expected = (in0[i].second + in1[i].second) / 2;
      check_equal(file.tensor("mean." + in0[i].first), expected, on + "mean of " + in0[i].first);
    }
    for (size_t i = 0; i < b0.size(); ++i) {
      check_equal(file.tensor("from0." + b0[i].first), b0[i].second.detach(), on + "from rank 0: " + b0[i].first);
      check_equal(file.tensor("from1." + b1[i].first), b1[i].second.detach(), on + "from rank 1: " + b1[i].first);
    }
    CHECK(file.tensor("parameter_requires_grad").item<int64_t>() == 1);
  }
}

TEST_CASE("data parallel: a rendezvous nobody hosts fails after the timeout with the address") {
  if (!DataParallelGroup::available(c10::Device("cpu"))) {
    MESSAGE("SKIPPED: this build has no c10d Gloo back end (Gloo's headers, libgloo-dev, were not found)");
    return;
  }
  DistributedEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = free_port();
  DataParallelOptions options;
  options.timeout = std::chrono::seconds(2);
  const std::string expected =
      "data-parallel rendezvous failed (rank 1 of 2, store 127.0.0.1:" + std::to_string(env.master_port);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(DataParallelGroup(env, c10::Device("cpu"), options), doctest::Contains(expected.c_str()),
                       std::exception);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}
