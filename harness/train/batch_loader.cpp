#include "harness/train/batch_loader.h"

#include <ATen/ATen.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "harness/error.h"

namespace osor::harness::train {

Batch load_batch(const std::vector<CorneSample>& samples, const std::vector<int64_t>& indices,
                 const ResizeOptions& resize, int64_t epoch, int64_t index) {
  std::vector<at::Tensor> shot, bg, mask, sam;
  Batch batch;
  batch.epoch = epoch;
  batch.index = index;
  for (const int64_t i : indices) {
    const CorneSample& s = samples.at(static_cast<size_t>(i));
    LoadedSample loaded;
    try {
      loaded = load_corne_sample(s, resize);
    } catch (const std::exception& e) {
      throw HarnessError("training data, epoch " + std::to_string(epoch) + " batch " + std::to_string(index) +
                         ", sample " + s.stem + ": " + e.what());
    }
    shot.push_back(loaded.shot);
    bg.push_back(loaded.bg);
    mask.push_back(loaded.mask);
    if (loaded.mask_sam.defined()) sam.push_back(loaded.mask_sam);
    batch.stems.push_back(s.stem);
  }
  batch.shot = at::stack(shot);
  batch.bg = at::stack(bg);
  batch.mask = at::stack(mask);
  if (!sam.empty()) batch.mask_sam = at::stack(sam);
  return batch;
}

namespace {

std::vector<std::pair<int64_t, int64_t>> size_keys(const std::vector<CorneSample>& samples) {
  std::vector<std::pair<int64_t, int64_t>> keys;
  for (const CorneSample& s : samples) keys.emplace_back(s.height, s.width);  // sampler.py: the shot's size
  return keys;
}

BucketSampler make_sampler(const std::vector<CorneSample>& samples, const BucketSamplerOptions& options) {
  BucketSampler sampler(size_keys(samples), options);
  if (sampler.batches_per_epoch() == 0)
    throw HarnessError("training data: " + std::to_string(samples.size()) + " samples give no batch of " +
                       std::to_string(options.batch_size) + " per epoch (each size bucket is smaller than a batch" +
                       (options.world_size > 1 ? ", or fewer batches than processes" : "") + ")");
  return sampler;
}

// The batch at `cursor` (the cursor moved to the next epoch when it stands past the end of one), and the cursor after.
std::pair<std::vector<int64_t>, DataCursor> batch_at(const BucketSampler& sampler, DataCursor cursor,
                                                     int64_t& cached_epoch,
                                                     std::vector<std::vector<int64_t>>& epoch_batches) {
  while (cursor.position >= sampler.batches_per_epoch()) cursor = {cursor.epoch + 1, cursor.position - sampler.batches_per_epoch()};
  if (cached_epoch != cursor.epoch) {
    epoch_batches = sampler.epoch_batches(cursor.epoch);
    cached_epoch = cursor.epoch;
  }
  return {epoch_batches[static_cast<size_t>(cursor.position)], cursor};
}

}  // namespace

BatchReader::BatchReader(std::vector<CorneSample> samples, ResizeOptions resize, BucketSamplerOptions sampler,
                         DataCursor start)
    : samples_(std::move(samples)), resize_(resize), sampler_(make_sampler(samples_, sampler)), cursor_(start) {}

Batch BatchReader::next() {
  auto [indices, at] = batch_at(sampler_, cursor_, cached_epoch_, epoch_batches_);
  Batch batch = load_batch(samples_, indices, resize_, at.epoch, at.position);
  cursor_ = {at.epoch, at.position + 1};
  return batch;
}

// Work is handed out in stream order (sequence numbers): a thread takes the next sequence number while fewer than
// `prefetch` batches are ahead of the consumer, loads it without the lock, and files the result (or its error)
// under its number; next() waits for its own number, so the order never depends on which thread finishes first.
struct BackgroundLoader::State {
  std::vector<CorneSample> samples;
  ResizeOptions resize;
  BucketSampler sampler;
  BackgroundLoaderOptions options;

  mutable std::mutex mutex;
  std::condition_variable work_ready, result_ready;
  DataCursor consumer;                 // the batch next() returns next
  DataCursor producer;                 // the next batch to hand out
  int64_t handed_out = 0, consumed = 0;  // sequence numbers
  int64_t cached_epoch = -1;
  std::vector<std::vector<int64_t>> epoch_batches;
  std::map<int64_t, std::pair<Batch, std::exception_ptr>> ready;
  bool stopping = false;
  std::vector<std::thread> threads;

  State(std::vector<CorneSample> s, ResizeOptions r, const BucketSamplerOptions& so, DataCursor start,
        BackgroundLoaderOptions o)
      : samples(std::move(s)), resize(r), sampler(make_sampler(samples, so)), options(o), consumer(start),
        producer(start) {}

  void work() {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      work_ready.wait(lock, [&] { return stopping || handed_out - consumed < options.prefetch; });
      if (stopping) return;
      const int64_t sequence = handed_out++;
      auto [indices, at] = batch_at(sampler, producer, cached_epoch, epoch_batches);
      producer = {at.epoch, at.position + 1};
      lock.unlock();
      std::pair<Batch, std::exception_ptr> result;
      try {
        result.first = load_batch(samples, indices, resize, at.epoch, at.position);
      } catch (...) {
        result.second = std::current_exception();
      }
      lock.lock();
      ready.emplace(sequence, std::move(result));
      result_ready.notify_all();
    }
  }
};

BackgroundLoader::BackgroundLoader(std::vector<CorneSample> samples, ResizeOptions resize,
                                   BucketSamplerOptions sampler, DataCursor start, BackgroundLoaderOptions options)
    : state_(std::make_unique<State>(std::move(samples), resize, sampler, start, options)) {
  if (options.prefetch < 1 || options.threads < 1)
    throw HarnessError("background loader: prefetch and threads must be at least 1");
  for (int64_t i = 0; i < options.threads; ++i) state_->threads.emplace_back([s = state_.get()] { s->work(); });
}

BackgroundLoader::~BackgroundLoader() { stop(); }

void BackgroundLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stopping = true;
  }
  state_->work_ready.notify_all();
  state_->result_ready.notify_all();
  for (std::thread& t : state_->threads)
    if (t.joinable()) t.join();
  state_->threads.clear();
}

Batch BackgroundLoader::next() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.stopping) throw HarnessError("background loader: next() after stop()");
  const int64_t sequence = s.consumed;
  s.result_ready.wait(lock, [&] { return s.stopping || s.ready.count(sequence) != 0; });
  if (s.stopping) throw HarnessError("background loader: stopped while waiting for a batch");
  auto node = s.ready.extract(sequence);
  ++s.consumed;
  s.work_ready.notify_all();
  if (node.mapped().second) {
    // A failed batch stops the stream: the error is the consumer's to handle, and nothing after it is read.
    s.stopping = true;
    lock.unlock();
    s.work_ready.notify_all();
    std::rethrow_exception(node.mapped().second);
  }
  Batch batch = std::move(node.mapped().first);
  s.consumer = {batch.epoch, batch.index + 1};
  return batch;
}

DataCursor BackgroundLoader::cursor() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->consumer;
}

}  // namespace osor::harness::train
