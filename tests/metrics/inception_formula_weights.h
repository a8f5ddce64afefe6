// The conformance FID Inception's 94 conv weights, generated from the formula of
// ../shared/conformance/README.md section 2b (FNV-1a of the key, splitmix64 of key hash + index, top 24 bits
// as a uniform in [-1,1), times float32(sqrt(3/fan_in))), plus a small SHA-256 to check them against the
// keys file's sha256_f32le values. Shared by the OpenCV-free and the PNG-based network tests.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "model/io/safetensors.h"

namespace osor::test {

inline uint64_t fnv1a64(const std::string& key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char b : key) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

inline uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// [out, in, kh, kw] float32 weights of conv `key`. The FID set uses gain 3 and no salt; other sets (train/'s
// LPIPS-VGG trunk) state theirs.
inline at::Tensor formula_conv_weight(const std::string& key, const std::vector<int64_t>& shape, double gain = 3.0,
                                      const std::string& salt = "") {
  const int64_t fan_in = shape[1] * shape[2] * shape[3];
  const float s = static_cast<float>(std::sqrt(gain / static_cast<double>(fan_in)));  // double route, then f32
  at::Tensor w = at::empty(shape, at::kFloat);
  float* p = w.data_ptr<float>();
  const uint64_t h = fnv1a64(salt + key);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t m = static_cast<int64_t>(splitmix64(h + static_cast<uint64_t>(i)) >> 40);
    const float u = static_cast<float>(m - 8388608) / 8388608.0f;  // exact: 24-bit integer × 2^-23
    p[i] = s * u;  // ≤ 48 significant bits: one rounding either way
  }
  return w;
}

// SHA-256 (FIPS 180-4) of a byte string, as lowercase hex.
inline std::string sha256_hex(const uint8_t* data, size_t size) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t hs[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const uint8_t* b) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) w[i] = uint32_t(b[4 * i]) << 24 | uint32_t(b[4 * i + 1]) << 16 | uint32_t(b[4 * i + 2]) << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = hs[0], b2 = hs[1], c = hs[2], d = hs[3], e = hs[4], f = hs[5], g = hs[6], h = hs[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b2) ^ (a & c) ^ (b2 & c));
      h = g; g = f; f = e; e = d + t1; d = c; c = b2; b2 = a; a = t1 + t2;
    }
    hs[0] += a; hs[1] += b2; hs[2] += c; hs[3] += d; hs[4] += e; hs[5] += f; hs[6] += g; hs[7] += h;
  };
  size_t i = 0;
  for (; i + 64 <= size; i += 64) block(data + i);
  uint8_t tail[128] = {0};
  const size_t rest = size - i;
  std::memcpy(tail, data + i, rest);
  tail[rest] = 0x80;
  const size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(size) * 8;
  for (int j = 0; j < 8; ++j) tail[tail_len - 1 - j] = static_cast<uint8_t>(bits >> (8 * j));
  block(tail);
  if (tail_len == 128) block(tail + 64);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint32_t v : hs)
    for (int j = 28; j >= 0; j -= 4) out.push_back(hex[(v >> j) & 0xf]);
  return out;
}

struct FormulaWeightsReport {
  int tensors = 0;
  int sha_mismatches = 0;
  std::string first_mismatch;
};

// Generates every `formula` tensor of the keys file, checks each against its sha256_f32le, and writes them
// under their state-dict names to `out` (with the BN file this is the whole conformance Inception).
inline FormulaWeightsReport write_formula_weights(const std::filesystem::path& keys_json, const std::filesystem::path& out) {
  std::ifstream in(keys_json);
  const nlohmann::json keys = nlohmann::json::parse(in);
  FormulaWeightsReport report;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& t : keys.at("tensors")) {
    if (t.at("source") != "formula") continue;
    const std::string name = t.at("name");
    const at::Tensor w = formula_conv_weight(name, t.at("shape").get<std::vector<int64_t>>());
    const std::string sha = sha256_hex(static_cast<const uint8_t*>(w.data_ptr()), w.nbytes());
    if (sha != t.at("sha256_f32le").get<std::string>()) {
      if (report.sha_mismatches++ == 0) report.first_mismatch = name;
    }
    ++report.tensors;
    tensors.emplace_back(name, w);
  }
  model::write_safetensors(out, tensors, {{"what", "FID Inception conformance conv weights (README 2b formula)"}});
  return report;
}

}  // namespace osor::test
