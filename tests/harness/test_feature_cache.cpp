// The feature cache: key handling, atomic one-file-per-entry storage, corruption and concurrent writers.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "harness/feature_cache.h"
#include "harness/sha256.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::harness::FeatureCache;
using osor::harness::FeatureKey;

namespace {

FeatureKey key(const std::string& image = std::string(64, 'a')) {
  return {image, "inception-fid", std::string(64, 'b'), "pytorch-fid"};
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 test vectors") {
  using osor::harness::sha256_hex;
  CHECK(sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(sha256_hex(two_blocks.data(), two_blocks.size()) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  osor::harness::Sha256 streamed;  // a million 'a' fed in uneven pieces
  const std::string chunk(977, 'a');
  size_t left = 1000000;
  while (left) {
    const size_t n = std::min(left, chunk.size());
    streamed.update(chunk.data(), n);
    left -= n;
  }
  CHECK(streamed.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("feature cache stores and returns features under the full key only") {
  const FeatureCache cache(osor::test::scratch_dir("feature_cache_roundtrip"));
  const at::Tensor f = at::randn({2048}, at::kFloat);
  CHECK_FALSE(cache.get(key()).has_value());
  REQUIRE(cache.put(key(), f));
  const auto hit = cache.get(key());
  REQUIRE(hit.has_value());
  CHECK(at::equal(*hit, f));
  // Every part of the key matters, including the parts that do not appear in the path.
  FeatureKey other = key();
  other.preprocessing = "clean-fid";
  CHECK_FALSE(cache.get(other).has_value());
  other = key();
  other.weights_hash = std::string(16, 'b') + std::string(48, 'c');  // same 16-digit folder prefix
  CHECK_FALSE(cache.get(other).has_value());
  CHECK_FALSE(cache.get(key(std::string(64, 'e'))).has_value());
  const auto info = cache.info();
  CHECK(info.entries == 1);
  CHECK(info.entries_by_group.count("inception-fid/pytorch-fid-bbbbbbbbbbbbbbbb") == 1);
}

TEST_CASE("feature cache treats corrupt or truncated entries as misses and rewrites them") {
  const FeatureCache cache(osor::test::scratch_dir("feature_cache_corrupt"));
  const at::Tensor f = at::arange(768, at::kFloat);
  REQUIRE(cache.put(key(), f));
  const fs::path path = cache.entry_path(key());
  const auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);  // a write cut short by a full disk
  CHECK_FALSE(cache.get(key()).has_value());
  std::ofstream(path, std::ios::binary) << "garbage";
  CHECK_FALSE(cache.get(key()).has_value());
  REQUIRE(cache.put(key(), f));
  REQUIRE(cache.get(key()).has_value());
  CHECK(at::equal(*cache.get(key()), f));
}

TEST_CASE("feature cache: stray temporaries are ignored, counted, and removed by clear") {
  const FeatureCache cache(osor::test::scratch_dir("feature_cache_clear"));
  REQUIRE(cache.put(key(), at::ones({8}, at::kFloat)));
  REQUIRE(cache.put(key(std::string(64, 'f')), at::ones({8}, at::kFloat)));
  const fs::path stray = cache.entry_path(key()).parent_path() / ".aaaa.h5.tmp123_0";
  std::ofstream(stray) << "half";
  auto info = cache.info();
  CHECK(info.entries == 2);
  CHECK(info.stray_temporaries == 1);
  CHECK(cache.get(key()).has_value());
  CHECK(cache.clear() == 2);
  info = cache.info();
  CHECK(info.entries == 0);
  CHECK(info.stray_temporaries == 0);
  CHECK_FALSE(cache.get(key()).has_value());
  CHECK(fs::is_directory(cache.dir()));
}

TEST_CASE("feature cache survives concurrent writers of the same and of different keys") {
  const FeatureCache cache(osor::test::scratch_dir("feature_cache_concurrent"));
  const at::Tensor f = at::randn({2048}, at::kFloat);
  std::vector<pid_t> children;
  for (int c = 0; c < 6; ++c) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      bool ok = true;
      for (int i = 0; i < 20; ++i) {
        ok = ok && cache.put(key(), f);  // everyone writes the same key
        ok = ok && cache.put(key(std::string(63, 'a') + char('0' + c)), f + c);
      }
      _exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  REQUIRE(cache.get(key()).has_value());
  CHECK(at::equal(*cache.get(key()), f));
  for (int c = 0; c < 6; ++c) {
    const auto hit = cache.get(key(std::string(63, 'a') + char('0' + c)));
    REQUIRE(hit.has_value());
    CHECK(at::equal(*hit, f + c));
  }
  const auto info = cache.info();
  CHECK(info.entries == 7);
  CHECK(info.stray_temporaries == 0);
}

TEST_CASE("image content hash and weights hash identify content, not names") {
  const at::Tensor a = at::rand({1, 3, 8, 9}, at::kFloat);
  CHECK(osor::harness::image_content_hash(a) == osor::harness::image_content_hash(a.clone()));
  CHECK(osor::harness::image_content_hash(a) != osor::harness::image_content_hash(a + 1.0 / 255));
  CHECK(osor::harness::image_content_hash(a) != osor::harness::image_content_hash(a.reshape({1, 3, 9, 8})));
  const fs::path dir = osor::test::scratch_dir("feature_cache_weights_hash");
  const FeatureCache cache(dir / "cache");
  std::ofstream(dir / "w.safetensors") << "weights one";
  const std::string h1 = osor::harness::weights_files_hash(cache, {dir / "w.safetensors"});
  CHECK(h1 == osor::harness::weights_files_hash(cache, {dir / "w.safetensors"}));  // memoised
  CHECK(fs::exists(cache.dir() / "weights-hashes"));
  std::ofstream(dir / "w.safetensors") << "weights two, longer";
  CHECK(h1 != osor::harness::weights_files_hash(cache, {dir / "w.safetensors"}));
}
