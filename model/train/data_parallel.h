// Data parallelism for the trainer, the way PyTorch's DistributedDataParallel does it underneath: one process per
// device, a TCPStore rendezvous hosted by rank 0 at MASTER_ADDR:MASTER_PORT, and LibTorch's own c10d process group —
// Gloo on the CPU, NCCL on CUDA. The trainer calls, per step and per network, after backward and before clipping,
// all_reduce_mean on its trainable gradients; and at the start, broadcast of the trainable parameters (and buffers)
// from rank 0, so every replica starts equal and stays equal.
//
// With world size 1 every call is a no-op and no c10d object is created.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/train/data_parallel_env.h"

namespace osor::model::train {

struct DataParallelOptions {
  // The rendezvous (every rank must reach the store within it) and every collective: a rank that died or never
  // started makes the others fail with an error after this long instead of hanging.
  std::chrono::milliseconds timeout = std::chrono::minutes(30);
  // Gradients travel in flat buffers of one dtype of at most this size (one collective each); a tensor larger
  // than this travels in a buffer of its own.
  int64_t bucket_bytes = int64_t{64} << 20;
};

class DataParallelGroup {
 public:
  // `device` is where the tensors live (use env.local_device(...)): CPU → Gloo, CUDA → NCCL (this process's GPU
  // becomes the current device). Blocks until every rank has joined, or throws after options.timeout.
  DataParallelGroup(const DistributedEnv& env, c10::Device device, DataParallelOptions options = {});
  ~DataParallelGroup();
  DataParallelGroup(DataParallelGroup&&) noexcept;
  DataParallelGroup& operator=(DataParallelGroup&&) noexcept;

  // Whether this build has the back end `device` needs (Gloo's headers were found; LibTorch with CUDA and nccl.h).
  static bool available(c10::Device device);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_main() const { return rank_ == 0; }
  std::string backend() const;  // "gloo", "nccl", or "none" (world size 1)

  // Every tensor becomes, in place, the mean of that tensor over the ranks. Every rank passes the same list (same
  // order, shapes, dtypes; floating point, defined, on the group's device): the tensors are packed into one flat
  // buffer per dtype, summed across ranks, divided by the world size and copied back.
  void all_reduce_mean(std::vector<at::Tensor>& tensors);
  // Every tensor becomes, in place, rank `root`'s tensor, bit for bit (any dtype; done under no-grad so parameters
  // can be passed directly).
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // Returns once every rank has called it.
  void barrier();

  class Collectives;  // the c10d side, defined where c10d is included

 private:
  void check_tensors(const std::vector<at::Tensor>& tensors, const char* operation, bool floating_only) const;

  int rank_ = 0, world_size_ = 1;
  c10::Device device_{c10::kCPU};
  DataParallelOptions options_;
  std::unique_ptr<Collectives> collectives_;  // null for world size 1
};

}  // namespace osor::model::train
