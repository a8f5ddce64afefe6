// The order in which training batches are drawn: OSOR's DistributedAspectRatioBucketSampler
// (osor-*/src/data/sampler.py) with a seeded std::mt19937_64 instead of torch.randperm.
//
// Samples are grouped into buckets by size (the official sampler keys them by the shot's size on disk, so every
// batch has one training size); buckets are kept in order of first appearance. Each epoch: the bucket order is
// permuted, each bucket's samples are permuted and cut into batches of `batch_size` (the last short one dropped
// when drop_last, as the official trainer asks), the list of all batches is permuted, truncated to a multiple
// of world_size, and rank r takes batches r, r + world_size, ...
//
// The permutations are Fisher-Yates with an unbiased bounded draw on an mt19937_64 seeded from (seed, epoch), so an
// epoch's batches depend only on (samples' sizes, batch_size, seed, epoch, world_size, rank), on any platform. The
// official sampler seeds torch with the epoch alone; its streams are not reproduced.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace osor::harness::train {

struct BucketSamplerOptions {
  int64_t batch_size = 2;
  bool drop_last = true;  // the official trainer's setting (train_phase*.py init_dataset)
  bool shuffle = true;
  uint64_t seed = 42;
  int64_t world_size = 1, rank = 0;
};

// Where the data stream stands: the next batch is batch `position` of epoch `epoch`.
struct DataCursor {
  int64_t epoch = 0, position = 0;
  bool operator==(const DataCursor& o) const { return epoch == o.epoch && position == o.position; }
};

class BucketSampler {
 public:
  // bucket_keys[i]: the bucket of sample i (e.g. its size); equal keys share a bucket.
  BucketSampler(const std::vector<std::pair<int64_t, int64_t>>& bucket_keys, BucketSamplerOptions options);

  // This rank's batches of `epoch`, each a list of sample indices.
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;
  // How many batches this rank gets per epoch (the same every epoch).
  int64_t batches_per_epoch() const;
  const BucketSamplerOptions& options() const { return options_; }

 private:
  BucketSamplerOptions options_;
  std::vector<std::vector<int64_t>> buckets_;
};

}  // namespace osor::harness::train
