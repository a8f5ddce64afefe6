// Internal to the c10d back ends (data_parallel_gloo.cpp, data_parallel_nccl.cpp): the TCPStore rendezvous and
// the adapter from a c10d process group to DataParallelGroup::Collectives. A template over the group type because
// LibTorch 1.13's groups derive from c10d::ProcessGroup and 2.x's from c10d::Backend; both have the same
// allreduce/broadcast/barrier calls.
#pragma once

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>

#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "model/error.h"
#include "model/train/data_parallel_backend.h"

namespace osor::model::train {

// Rank 0 hosts the store at MASTER_ADDR:MASTER_PORT and waits for all WORLD_SIZE ranks; the others connect to it.
// Throws ModelError naming the address after `timeout`.
c10::intrusive_ptr<c10d::Store> connect_rendezvous_store(const DistributedEnv& env, std::chrono::milliseconds timeout);

// A c10d failure (a peer gone, a timeout) as one ModelError line: which collective, which back end, which rank.
[[noreturn]] void rethrow_collective_error(const char* what, const std::exception& error, const std::string& backend,
                                           int rank, int world);

template <class Group>
class C10dCollectives final : public DataParallelGroup::Collectives {
 public:
  C10dCollectives(c10::intrusive_ptr<Group> group, std::string name, int rank, int world,
                  std::chrono::milliseconds timeout)
      : group_(std::move(group)), name_(std::move(name)), rank_(rank), world_(world), timeout_(timeout) {}

  std::string name() const override { return name_; }

  void all_reduce_sum(at::Tensor& flat) override {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = timeout_;
    run("all_reduce", [&](std::vector<at::Tensor>& tensors) { return group_->allreduce(tensors, options); }, flat);
  }

  void broadcast(at::Tensor& flat, int root) override {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.rootTensor = 0;
    options.timeout = timeout_;
    run("broadcast", [&](std::vector<at::Tensor>& tensors) { return group_->broadcast(tensors, options); }, flat);
  }

  void barrier() override {
    c10d::BarrierOptions options;
    options.timeout = timeout_;
    try {
      group_->barrier(options)->wait();
    } catch (const std::exception& e) {
      rethrow_collective_error("barrier", e, name_, rank_, world_);
    }
  }

 private:
  template <class Start>
  void run(const char* what, Start start, at::Tensor& flat) {
    std::vector<at::Tensor> tensors{flat};
    try {
      start(tensors)->wait();
    } catch (const std::exception& e) {
      rethrow_collective_error(what, e, name_, rank_, world_);
    }
  }

  c10::intrusive_ptr<Group> group_;
  std::string name_;
  int rank_, world_;
  std::chrono::milliseconds timeout_;
};

}  // namespace osor::model::train
