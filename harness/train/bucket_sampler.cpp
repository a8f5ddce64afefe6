#include "harness/train/bucket_sampler.h"

#include <map>
#include <random>
#include <string>

#include "harness/error.h"

namespace osor::harness::train {
namespace {

// A uniform draw in [0, n) by rejection, so that every platform gives the same value (std::uniform_int_distribution
// is implementation-defined).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

// Fisher-Yates from the back.
template <typename T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

// One generator per (seed, epoch): seed_seq spreads both words over the whole state.
std::mt19937_64 epoch_generator(uint64_t seed, int64_t epoch) {
  const auto e = static_cast<uint64_t>(epoch);
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(e),
                    static_cast<uint32_t>(e >> 32)};
  return std::mt19937_64(seq);
}

}  // namespace

BucketSampler::BucketSampler(const std::vector<std::pair<int64_t, int64_t>>& bucket_keys,
                             BucketSamplerOptions options)
    : options_(options) {
  if (options_.batch_size < 1) throw HarnessError("batch size must be at least 1");
  if (options_.world_size < 1 || options_.rank < 0 || options_.rank >= options_.world_size)
    throw HarnessError("rank " + std::to_string(options_.rank) + " is not in [0, world size " +
                       std::to_string(options_.world_size) + ")");
  std::map<std::pair<int64_t, int64_t>, size_t> bucket_of;
  for (size_t i = 0; i < bucket_keys.size(); ++i) {
    const auto [it, added] = bucket_of.emplace(bucket_keys[i], buckets_.size());
    if (added) buckets_.emplace_back();
    buckets_[it->second].push_back(static_cast<int64_t>(i));
  }
}

std::vector<std::vector<int64_t>> BucketSampler::epoch_batches(int64_t epoch) const {
  std::mt19937_64 rng = epoch_generator(options_.seed, epoch);
  std::vector<size_t> order(buckets_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (options_.shuffle) shuffle(order, rng);
  const auto b = static_cast<size_t>(options_.batch_size);
  std::vector<std::vector<int64_t>> all;
  for (size_t k : order) {
    std::vector<int64_t> members = buckets_[k];
    if (options_.shuffle) shuffle(members, rng);
    for (size_t i = 0; i < members.size(); i += b) {
      std::vector<int64_t> batch(members.begin() + i, members.begin() + std::min(members.size(), i + b));
      if (batch.size() == b || !options_.drop_last) all.push_back(std::move(batch));
    }
  }
  if (options_.shuffle) shuffle(all, rng);
  const auto world = static_cast<size_t>(options_.world_size);
  const size_t used = all.size() / world * world;
  std::vector<std::vector<int64_t>> mine;
  for (size_t i = static_cast<size_t>(options_.rank); i < used; i += world) mine.push_back(std::move(all[i]));
  return mine;
}

int64_t BucketSampler::batches_per_epoch() const {
  const int64_t b = options_.batch_size;
  int64_t total = 0;
  for (const auto& bucket : buckets_) {
    const auto n = static_cast<int64_t>(bucket.size());
    total += options_.drop_last ? n / b : (n + b - 1) / b;
  }
  return total / options_.world_size;
}

}  // namespace osor::harness::train
