#include "model/train/data_parallel.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <utility>

#include "model/error.h"
#include "model/train/data_parallel_backend.h"

namespace osor::model::train {
namespace {

// Indices of `tensors` in flat buffers of one dtype each, at most `max_bytes` (a larger tensor alone), in the
// list's order within a dtype: every rank derives the same buckets from the same list.
std::vector<std::vector<size_t>> dtype_buckets(const std::vector<at::Tensor>& tensors, int64_t max_bytes) {
  std::vector<std::vector<size_t>> buckets;
  std::vector<int64_t> bucket_bytes;
  std::vector<std::pair<at::ScalarType, size_t>> open;  // per dtype, the bucket still being filled
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto dtype = tensors[i].scalar_type();
    const int64_t bytes = tensors[i].numel() * static_cast<int64_t>(tensors[i].element_size());
    auto it = open.begin();
    while (it != open.end() && it->first != dtype) ++it;
    if (it == open.end() || bucket_bytes[it->second] + bytes > max_bytes) {
      buckets.emplace_back();
      bucket_bytes.push_back(0);
      if (it == open.end()) it = open.insert(open.end(), {dtype, 0});
      it->second = buckets.size() - 1;
    }
    buckets[it->second].push_back(i);
    bucket_bytes[it->second] += bytes;
  }
  return buckets;
}

at::Tensor pack(const std::vector<at::Tensor>& tensors, const std::vector<size_t>& members) {
  std::vector<at::Tensor> flat;
  flat.reserve(members.size());
  for (size_t i : members) flat.push_back(tensors[i].detach().reshape({-1}));
  return at::cat(flat);  // always a new buffer, never a view of a caller's tensor
}

void unpack(const at::Tensor& buffer, std::vector<at::Tensor>& tensors, const std::vector<size_t>& members) {
  int64_t offset = 0;
  for (size_t i : members) {
    const int64_t n = tensors[i].numel();
    tensors[i].copy_(buffer.narrow(0, offset, n).view(tensors[i].sizes()));
    offset += n;
  }
}

}  // namespace

DataParallelGroup::DataParallelGroup(const DistributedEnv& env, c10::Device device, DataParallelOptions options)
    : rank_(env.rank), world_size_(env.world_size), device_(device), options_(options) {
  if (world_size_ < 1 || rank_ < 0 || rank_ >= world_size_) {
    throw ModelError("data-parallel group: rank " + std::to_string(rank_) + " is not in a world of size " +
                     std::to_string(world_size_));
  }
  if (options_.bucket_bytes <= 0) throw ModelError("data-parallel group: bucket_bytes must be positive");
  if (!env.distributed()) return;  // one process: nothing to create, every call a no-op
  if (device.is_cpu()) {
    collectives_ = make_gloo_collectives(env, options_.timeout);
  } else if (device.is_cuda()) {
    if (!device.has_index()) {
      throw ModelError("data-parallel group: " + device.str() + " has no index (use DistributedEnv::local_device)");
    }
    collectives_ = make_nccl_collectives(env, device, options_.timeout);
  } else {
    throw ModelError("data-parallel group: " + device.str() + " is neither cpu (Gloo) nor cuda (NCCL)");
  }
}

DataParallelGroup::~DataParallelGroup() = default;
DataParallelGroup::DataParallelGroup(DataParallelGroup&&) noexcept = default;
DataParallelGroup& DataParallelGroup::operator=(DataParallelGroup&&) noexcept = default;

bool DataParallelGroup::available(c10::Device device) {
  return device.is_cpu() ? gloo_compiled_in() : device.is_cuda() && nccl_compiled_in();
}

std::string DataParallelGroup::backend() const { return collectives_ ? collectives_->name() : "none"; }

void DataParallelGroup::check_tensors(const std::vector<at::Tensor>& tensors, const char* operation,
                                      bool floating_only) const {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    const std::string where = std::string("data-parallel ") + operation + ": tensor " + std::to_string(i);
    if (!t.defined()) throw ModelError(where + " is undefined (every rank must pass the same defined tensors)");
    if (t.device() != device_) {
      throw ModelError(where + " is on " + t.device().str() + ", the group's device is " + device_.str());
    }
    if (floating_only && !t.is_floating_point()) {
      throw ModelError(where + " has dtype " + std::string(c10::toString(t.scalar_type())) +
                       ": only floating-point tensors are averaged");
    }
  }
}

void DataParallelGroup::all_reduce_mean(std::vector<at::Tensor>& tensors) {
  check_tensors(tensors, "all_reduce_mean", true);
  if (!collectives_) return;
  at::NoGradGuard no_grad;
  for (const auto& members : dtype_buckets(tensors, options_.bucket_bytes)) {
    at::Tensor buffer = pack(tensors, members);
    if (buffer.numel() == 0) continue;
    collectives_->all_reduce_sum(buffer);
    buffer.div_(world_size_);
    unpack(buffer, tensors, members);
  }
}

void DataParallelGroup::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (root < 0 || root >= world_size_) {
    throw ModelError("data-parallel broadcast: root " + std::to_string(root) + " is not a rank of a world of size " +
                     std::to_string(world_size_));
  }
  check_tensors(tensors, "broadcast", false);
  if (!collectives_) return;
  at::NoGradGuard no_grad;  // parameters are updated in place
  for (const auto& members : dtype_buckets(tensors, options_.bucket_bytes)) {
    at::Tensor buffer = pack(tensors, members);
    if (buffer.numel() == 0) continue;
    collectives_->broadcast(buffer, root);
    if (rank_ != root) unpack(buffer, tensors, members);
  }
}

void DataParallelGroup::barrier() {
  if (collectives_) collectives_->barrier();
}

}  // namespace osor::model::train
