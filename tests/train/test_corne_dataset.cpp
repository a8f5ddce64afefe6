// CORNE training data (harness/train/): OSOR's resize policies (dataset.py), discovery of the savp / CORNE-Val
// layout and of the official list files, the bucket sampler's batches, the resumable cursor, and the background
// loader against the synchronous reader. Needs the harness (OpenCV) to write and read the PNGs.
#include <doctest/doctest.h>

#if OSOR_TESTS_WITH_OPENCV

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "harness/error.h"
#include "harness/image_io.h"
#include "harness/train/batch_loader.h"
#include "metrics/resize.h"
#include "tests/test_paths.h"

using namespace osor::harness::train;
namespace fs = std::filesystem;

namespace {

at::Tensor random_u8(std::vector<int64_t> shape, int64_t seed) {
  at::manual_seed(seed);
  return at::randint(0, 256, shape, at::kLong).to(at::kByte);
}

// A CORNE-layout folder: shot/, bg/, mask_eff/, mask_sam/; sizes (h, w) per sample, stems s00, s01, ...
fs::path make_corne(const std::string& name, const std::vector<std::pair<int64_t, int64_t>>& sizes) {
  const fs::path root = osor::test::scratch_dir(name);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto [h, w] = sizes[i];
    const std::string stem = (i < 10 ? "s0" : "s") + std::to_string(i);
    osor::harness::write_image(root / "shot" / (stem + ".png"), random_u8({3, h, w}, 10 * i));
    osor::harness::write_image(root / "bg" / (stem + ".png"), random_u8({3, h, w}, 10 * i + 1));
    osor::harness::write_image(root / "mask_eff" / (stem + ".png"), random_u8({h, w}, 10 * i + 2));
    osor::harness::write_image(root / "mask_sam" / (stem + ".png"), random_u8({h, w}, 10 * i + 3));
  }
  return root;
}

bool same(const at::Tensor& a, const at::Tensor& b) { return a.sizes() == b.sizes() && at::equal(a, b); }

void check_same_batch(const Batch& a, const Batch& b) {
  CHECK(a.stems == b.stems);
  CHECK(a.epoch == b.epoch);
  CHECK(a.index == b.index);
  CHECK(same(a.shot, b.shot));
  CHECK(same(a.bg, b.bg));
  CHECK(same(a.mask, b.mask));
}

const std::vector<std::pair<int64_t, int64_t>> kMixedSizes = {{40, 56}, {48, 48}, {40, 56}, {48, 48}, {40, 56},
                                                              {48, 48}, {40, 56}, {48, 48}, {40, 56}, {32, 20}};

}  // namespace

TEST_CASE("corne dataset: training sizes follow dataset.py's _calculate_target_size (SDXL) and ceil-16 (FLUX)") {
  // Expected values computed with dataset.py's own Python expression.
  const ResizeOptions sdxl;
  CHECK(training_size(300, 400, sdxl) == std::make_pair<int64_t, int64_t>(512, 688));  // up: 682.67 → 682 → 688
  CHECK(training_size(768, 1024, sdxl) == std::make_pair<int64_t, int64_t>(512, 688));
  CHECK(training_size(250, 333, sdxl) == std::make_pair<int64_t, int64_t>(512, 688));
  CHECK(training_size(400, 300, sdxl) == std::make_pair<int64_t, int64_t>(688, 512));
  CHECK(training_size(427, 640, sdxl) == std::make_pair<int64_t, int64_t>(512, 768));
  CHECK(training_size(513, 511, sdxl) == std::make_pair<int64_t, int64_t>(528, 512));  // 513·512/511 = 514.0
  CHECK(training_size(1080, 1920, sdxl) == std::make_pair<int64_t, int64_t>(512, 912));
  // 49 · (512 / 49) is 511.99999999999994 in double: Python's int() gives 511 (ceiled to 512 again), 98 → 1023.
  CHECK(training_size(49, 98, sdxl) == std::make_pair<int64_t, int64_t>(512, 1024));
  CHECK(training_size(49, 148, sdxl) == std::make_pair<int64_t, int64_t>(512, 1552));
  const ResizeOptions small{ResizePolicy::Sdxl, 32};
  CHECK(training_size(24, 20, small) == std::make_pair<int64_t, int64_t>(48, 32));  // 38.4 → 38 → 48
  CHECK(training_size(23, 37, small) == std::make_pair<int64_t, int64_t>(32, 64));  // 51.48 → 51 → 64
  const ResizeOptions flux{ResizePolicy::Flux};
  CHECK(training_size(250, 333, flux) == std::make_pair<int64_t, int64_t>(256, 336));
  CHECK(training_size(512, 768, flux) == std::make_pair<int64_t, int64_t>(512, 768));
  const ResizeOptions fixed{ResizePolicy::Fixed, 512, 64, 96};
  CHECK(training_size(250, 333, fixed) == std::make_pair<int64_t, int64_t>(64, 96));
  CHECK_THROWS_AS(training_size(10, 10, ResizeOptions{ResizePolicy::Fixed}), osor::HarnessError);
}

TEST_CASE("corne dataset: a sample loads at the policy's size, images Lanczos, masks Pillow-nearest exactly") {
  const fs::path root = make_corne("corne_load", {{40, 56}});
  const auto samples = discover_corne(root);
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].stem == "s00");
  CHECK(samples[0].height == 40);
  CHECK(samples[0].width == 56);
  CHECK(samples[0].mask.parent_path().filename() == "mask_eff");
  CHECK(samples[0].mask_sam.empty());

  const LoadedSample s = load_corne_sample(samples[0], ResizeOptions{ResizePolicy::Sdxl, 32});
  CHECK(s.shot.sizes() == at::IntArrayRef{3, 32, 48});
  CHECK(s.bg.sizes() == at::IntArrayRef{3, 32, 48});
  CHECK(s.mask.sizes() == at::IntArrayRef{1, 32, 48});
  CHECK_FALSE(s.mask_sam.defined());
  // Mask: Pillow NEAREST (no box) takes source column floor((x + 0.5)·56/48), row floor((y + 0.5)·40/32); values / 255.
  const at::Tensor m = random_u8({40, 56}, 2).to(at::kFloat);
  at::Tensor expected = at::empty({1, 32, 48});
  for (int64_t y = 0; y < 32; ++y)
    for (int64_t x = 0; x < 48; ++x)
      expected[0][y][x] = m[static_cast<int64_t>((y + 0.5) * 40.0 / 32.0)][static_cast<int64_t>((x + 0.5) * 56.0 / 48.0)];
  CHECK(at::equal(s.mask, expected / 255.0));
  // Images: Pillow's 8-bit Lanczos of the file's bytes.
  const at::Tensor lanczos = osor::metrics::pil_resize_u8(random_u8({3, 40, 56}, 0), 32, 48,
                                                          osor::metrics::PilFilter::Lanczos);
  CHECK(at::equal(s.shot, lanczos.to(at::kFloat) / 255.0));
  // FLUX at a ×16 size is the identity: the file's values exactly.
  const fs::path root16 = make_corne("corne_load16", {{32, 48}});
  const LoadedSample f = load_corne_sample(discover_corne(root16)[0], ResizeOptions{ResizePolicy::Flux});
  CHECK(at::equal(f.bg, random_u8({3, 32, 48}, 1).to(at::kFloat) / 255.0));
  CHECK(f.shot.min().item<float>() >= 0.0f);
  CHECK(f.shot.max().item<float>() <= 1.0f);
}

TEST_CASE("corne dataset: an RGB mask is converted with Pillow's convert('L') weights") {
  const fs::path root = make_corne("corne_rgb_mask", {{16, 16}});
  const at::Tensor rgb = random_u8({3, 16, 16}, 77);
  osor::harness::write_image(root / "mask_eff" / "s00.png", rgb);
  const LoadedSample s = load_corne_sample(discover_corne(root)[0], ResizeOptions{ResizePolicy::Flux});
  const at::Tensor c = rgb.to(at::kLong);
  const at::Tensor luma = (c[0] * 19595 + c[1] * 38470 + c[2] * 7471 + 32768).div(65536, "floor");
  CHECK(at::equal(s.mask[0], luma.to(at::kFloat) / 255.0));
}

TEST_CASE("corne dataset: missing parts and sizes that disagree are errors naming the file") {
  const fs::path root = make_corne("corne_errors", {{16, 16}, {16, 16}});
  fs::remove(root / "mask_eff" / "s01.png");
  CHECK_THROWS_WITH_AS(discover_corne(root),
                       doctest::Contains(((root / "mask_eff").string() + ": no file for sample s01").c_str()),
                       osor::HarnessError);
  osor::harness::write_image(root / "mask_eff" / "s01.png", random_u8({16, 32}, 5));
  CHECK_THROWS_WITH_AS(discover_corne(root), doctest::Contains("mask_eff/s01.png is 32x16, its shot"),
                       osor::HarnessError);
  fs::remove(root / "mask_sam" / "s00.png");
  CorneLayoutOptions phase2;
  phase2.with_sam = true;
  CHECK_THROWS_WITH_AS(discover_corne(root, phase2), doctest::Contains("mask_sam: no file for sample s00"),
                       osor::HarnessError);
  fs::remove_all(root / "bg");
  CHECK_THROWS_WITH_AS(discover_corne(root), doctest::Contains("no background folder (looked for bg/, gt/)"),
                       osor::HarnessError);
}

TEST_CASE("corne dataset: the official list files are read in list order, Phase II with the SAM list") {
  const fs::path root = make_corne("corne_lists", {{16, 16}, {16, 32}, {16, 16}});
  std::ofstream(root / "shot_list.txt") << "shot/s02.png\nshot/s00.png\n\n";
  std::ofstream(root / "bg_list.txt") << "bg/s02.png\nbg/s00.png\n";
  std::ofstream(root / "mask_list.txt") << "mask_eff/s02.png\n" << (root / "mask_eff" / "s00.png").string() << "\n";
  const auto phase1 = discover_corne(root);
  REQUIRE(phase1.size() == 2);
  CHECK(phase1[0].stem == "s02");
  CHECK(phase1[1].mask == root / "mask_eff" / "s00.png");
  std::ofstream(root / "shot_m_list.txt") << "shot/s01.png\n";
  std::ofstream(root / "bg_m_list.txt") << "bg/s01.png\n";
  std::ofstream(root / "mask-check_m_list.txt") << "mask_eff/s01.png\n";
  std::ofstream(root / "mask_sam_list.txt") << "mask_sam/s01.png\n";
  CorneLayoutOptions o;
  o.phase = 2;
  o.with_sam = true;
  const auto phase2 = discover_corne(root, o);
  REQUIRE(phase2.size() == 1);
  CHECK(phase2[0].width == 32);
  const LoadedSample s = load_corne_sample(phase2[0], ResizeOptions{ResizePolicy::Flux});
  CHECK(s.mask_sam.sizes() == at::IntArrayRef{1, 16, 32});
  std::ofstream(root / "bg_m_list.txt") << "bg/s01.png\nbg/s00.png\n";
  CHECK_THROWS_WITH_AS(discover_corne(root, o), doctest::Contains("have different lengths"), osor::HarnessError);
}

TEST_CASE("corne dataset: bucket sampler batches have one size, cover each sample once, depend on seed and epoch") {
  std::vector<std::pair<int64_t, int64_t>> keys;
  for (int i = 0; i < 23; ++i) keys.push_back(i % 3 == 0 ? std::make_pair(40, 56) : std::make_pair(48, 48));
  BucketSamplerOptions o;
  o.batch_size = 3;
  const BucketSampler sampler(keys, o);
  // 8 of one size, 15 of the other: drop_last keeps 2 + 5 batches.
  CHECK(sampler.batches_per_epoch() == 7);
  const auto e0 = sampler.epoch_batches(0);
  REQUIRE(e0.size() == 7);
  std::set<int64_t> seen;
  for (const auto& batch : e0) {
    CHECK(batch.size() == 3);
    for (int64_t i : batch) {
      CHECK(keys[i] == keys[batch[0]]);
      CHECK(seen.insert(i).second);
    }
  }
  CHECK(sampler.epoch_batches(0) == e0);
  CHECK(sampler.epoch_batches(1) != e0);
  BucketSamplerOptions other = o;
  other.seed = 7;
  CHECK(BucketSampler(keys, other).epoch_batches(0) != e0);
  // Two ranks: disjoint halves of the batch list truncated to an even count (3 each).
  BucketSamplerOptions r0 = o, r1 = o;
  r0.world_size = r1.world_size = 2;
  r1.rank = 1;
  const auto b0 = BucketSampler(keys, r0).epoch_batches(0), b1 = BucketSampler(keys, r1).epoch_batches(0);
  REQUIRE(b0.size() == 3);
  REQUIRE(b1.size() == 3);
  CHECK(b0[0] == e0[0]);
  CHECK(b1[0] == e0[1]);
  CHECK(b0[2] == e0[4]);
  BucketSamplerOptions keep = o;
  keep.drop_last = false;
  CHECK(BucketSampler(keys, keep).batches_per_epoch() == 3 + 5);
}

TEST_CASE("corne dataset: the bucket sampler's order is pinned (a checkpoint's cursor must mean the same batch)") {
  // Golden values of this implementation (mt19937_64 from seed_seq{seed, epoch}, Fisher-Yates, rejection draws):
  // any change of the stream would send a resumed run to other batches.
  std::vector<std::pair<int64_t, int64_t>> keys;
  for (int i = 0; i < 12; ++i) keys.push_back(i % 3 == 0 ? std::make_pair(40, 56) : std::make_pair(48, 48));
  BucketSamplerOptions o;
  o.batch_size = 2;
  std::string order;
  for (int64_t epoch : {0, 1})
    for (const auto& batch : BucketSampler(keys, o).epoch_batches(epoch)) {
      for (int64_t i : batch) order += std::to_string(i) + ",";
      order += "|";
    }
  CHECK(order == "5,10,|9,3,|1,4,|8,7,|2,11,|0,6,|4,8,|0,6,|7,11,|2,10,|9,3,|5,1,|");
  o.shuffle = false;
  CHECK(BucketSampler(keys, o).epoch_batches(5) ==
        std::vector<std::vector<int64_t>>{{0, 3}, {6, 9}, {1, 2}, {4, 5}, {7, 8}, {10, 11}});
}

TEST_CASE("corne dataset: the reader is deterministic and resumes from its cursor across an epoch boundary") {
  const fs::path root = make_corne("corne_reader", kMixedSizes);
  const auto samples = discover_corne(root);
  const ResizeOptions resize{ResizePolicy::Sdxl, 32};
  BucketSamplerOptions o;
  o.batch_size = 2;
  o.seed = 3;
  BatchReader a(samples, resize, o);
  // 5 of 40×56, 4 of 48×48, 1 of 32×20: 2 + 2 + 0 batches per epoch.
  std::vector<Batch> first;
  for (int i = 0; i < 6; ++i) first.push_back(a.next());
  CHECK(first[3].epoch == 0);
  CHECK(first[4].epoch == 1);
  CHECK(first[4].index == 0);
  CHECK(a.cursor() == DataCursor{1, 2});
  for (const Batch& b : first) {
    CHECK(b.shot.size(0) == 2);
    CHECK(b.shot.sizes() == b.bg.sizes());
    CHECK(b.mask.size(1) == 1);
    CHECK((b.shot.size(2) == 32 || b.shot.size(2) == 48));
  }
  BatchReader again(samples, resize, o);
  for (const Batch& b : first) check_same_batch(again.next(), b);
  BatchReader resumed(samples, resize, o, DataCursor{0, 3});
  for (int i = 3; i < 6; ++i) check_same_batch(resumed.next(), first[i]);
  BatchReader past_end(samples, resize, o, DataCursor{0, 4});  // a cursor at an epoch's end: the next epoch
  check_same_batch(past_end.next(), first[4]);
}

TEST_CASE("corne dataset: the background loader yields the synchronous batches and stops cleanly") {
  const fs::path root = make_corne("corne_background", kMixedSizes);
  const auto samples = discover_corne(root);
  const ResizeOptions resize{ResizePolicy::Sdxl, 32};
  BucketSamplerOptions o;
  o.batch_size = 2;
  BatchReader reader(samples, resize, o, DataCursor{0, 1});
  {
    BackgroundLoader loader(samples, resize, o, DataCursor{0, 1}, BackgroundLoaderOptions{3, 3});
    for (int i = 0; i < 10; ++i) {
      check_same_batch(loader.next(), reader.next());
      CHECK(loader.cursor() == reader.cursor());
    }
  }  // destroyed with a full queue and threads waiting: joins
  BackgroundLoader stopped(samples, resize, o);
  stopped.stop();
  CHECK_THROWS_AS(stopped.next(), osor::HarnessError);
}

TEST_CASE("corne dataset: a file that fails to load reaches the consumer with its name") {
  const fs::path root = make_corne("corne_background_error", kMixedSizes);
  const auto samples = discover_corne(root);
  fs::remove(root / "bg" / "s01.png");
  const ResizeOptions resize{ResizePolicy::Sdxl, 32};
  BucketSamplerOptions o;
  o.batch_size = 2;
  BackgroundLoader loader(samples, resize, o, {}, BackgroundLoaderOptions{2, 2});
  bool thrown = false;
  for (int i = 0; i < 8 && !thrown; ++i) {
    try {
      const Batch b = loader.next();
      CHECK(std::find(b.stems.begin(), b.stems.end(), "s01") == b.stems.end());
    } catch (const osor::HarnessError& e) {
      thrown = true;
      CHECK(std::string(e.what()).find("sample s01") != std::string::npos);
      CHECK(std::string(e.what()).find("bg/s01.png") != std::string::npos);
    }
  }
  CHECK(thrown);
}

#endif  // OSOR_TESTS_WITH_OPENCV
