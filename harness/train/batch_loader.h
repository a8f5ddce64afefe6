// Training batches from a CORNE folder, endlessly, epoch after epoch, in BucketSampler order: synchronously
// (BatchReader) or prefetched on background threads (BackgroundLoader) so that the training step never waits on
// decoding. Both give the same batches in the same order from the same cursor.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness/train/bucket_sampler.h"
#include "harness/train/corne_dataset.h"

namespace osor::harness::train {

struct Batch {
  at::Tensor shot, bg;       // [B,3,H,W] float32 in [0,1]
  at::Tensor mask;           // [B,1,H,W]
  at::Tensor mask_sam;       // [B,1,H,W], or undefined when the samples have none
  std::vector<std::string> stems;
  int64_t epoch = 0, index = 0;  // where it stands in the stream (its DataCursor)
};

// Loads and stacks batch `index` of `epoch`. Errors name the sample's file and where the batch stands.
Batch load_batch(const std::vector<CorneSample>& samples, const std::vector<int64_t>& indices,
                 const ResizeOptions& resize, int64_t epoch, int64_t index);

// The synchronous stream; also the reference the background loader is tested against.
class BatchReader {
 public:
  BatchReader(std::vector<CorneSample> samples, ResizeOptions resize, BucketSamplerOptions sampler,
              DataCursor start = {});
  Batch next();
  DataCursor cursor() const { return cursor_; }  // of the batch next() returns next

 private:
  std::vector<CorneSample> samples_;
  ResizeOptions resize_;
  BucketSampler sampler_;
  DataCursor cursor_;
  int64_t cached_epoch_ = -1;
  std::vector<std::vector<int64_t>> epoch_batches_;
};

struct BackgroundLoaderOptions {
  int64_t prefetch = 4;  // batches decoded ahead of the consumer (the bound of the queue)
  int64_t threads = 2;   // decoding threads
};

// Prefetches the next `prefetch` batches on `threads` threads. next() returns them in stream order; an error
// while loading a batch is rethrown by the next() that would have returned that batch. The destructor (or stop())
// stops the threads and joins them, also while they are blocked on a full queue.
class BackgroundLoader {
 public:
  BackgroundLoader(std::vector<CorneSample> samples, ResizeOptions resize, BucketSamplerOptions sampler,
                   DataCursor start = {}, BackgroundLoaderOptions options = {});
  ~BackgroundLoader();
  BackgroundLoader(const BackgroundLoader&) = delete;
  BackgroundLoader& operator=(const BackgroundLoader&) = delete;

  Batch next();
  DataCursor cursor() const;  // of the batch next() returns next (what a checkpoint stores)
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace osor::harness::train
