// SHA-256 (FIPS 180-4) for content keys: the feature cache keys images by the hash of their decoded pixels,
// and `osor weights check` verifies weights files against the manifest's sha256.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace osor::harness {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(const std::string& text) { update(text.data(), text.size()); }
  std::string hex_digest();  // 64 lower-case hex digits; the object is finished afterwards

 private:
  void block(const unsigned char* p);
  uint32_t state_[8];
  unsigned char buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

std::string sha256_hex(const void* data, size_t size);
// Streams the file; throws HarnessError naming it when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace osor::harness
