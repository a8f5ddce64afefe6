// What the tests of ../shared/conformance/train share: the fixture's files and its per-tensor tolerances
// (train/README.md: a float32 port is compared with the `_f64` tensor, max |port − f64| ≤ tolerance.per_tensor).
#pragma once

#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"

namespace osor::test {

struct TrainFixture {
  TrainFixture(const std::filesystem::path& root, const std::string& name)
      : dir(root / "train"), json(read_fixture_json(dir / (name + ".json"))),
        io(model::SafetensorsFile::open(dir / (name + ".io.safetensors"))) {}

  double tolerance(const std::string& key) const {
    const auto& per = json.at("tolerance").at("per_tensor");
    REQUIRE_MESSAGE(per.contains(key), "no tolerance.per_tensor entry for " << key);
    return per.at(key).get<double>();
  }
  at::Tensor f64(const std::string& key) const { return io.tensor(key + "_f64"); }

  // max |got − key_f64| ≤ tolerance(key); returns the error / tolerance ratio (kept for the summary line).
  double check(const std::string& key, const at::Tensor& got) {
    const at::Tensor want = f64(key);
    REQUIRE_MESSAGE(got.numel() == want.numel(), key << ": " << got.numel() << " values, expected " << want.numel());
    const double err = max_abs(got, want), tol = tolerance(key);
    CHECK_MESSAGE(err <= tol, key << ": max |err| " << err << " > tolerance " << tol);
    const double ratio = err / tol;
    if (ratio > worst_ratio) worst_ratio = ratio, worst_key = key;
    ++checked;
    return ratio;
  }
  void summary() const {
    MESSAGE(checked << " tensors checked, worst " << worst_key << " at " << worst_ratio << " of its tolerance");
  }

  std::filesystem::path dir;
  nlohmann::json json;
  model::SafetensorsFile io;
  double worst_ratio = 0;
  std::string worst_key;
  int checked = 0;
};

// An HWC uint8 image batch [B,H,W,3] → float32 NCHW in [0,1] (OSOR's dataset: u8.permute(0,3,1,2).float()/255).
inline at::Tensor images_from_u8(const at::Tensor& u8) { return u8.permute({0, 3, 1, 2}).to(at::kFloat) / 255; }

// Number of keys "<prefix><k><suffix>" for k = 0, 1, ... (the head count, from the fixture).
inline int count_indexed(const model::SafetensorsFile& f, const std::string& prefix, const std::string& suffix) {
  int k = 0;
  while (f.contains(prefix + std::to_string(k) + suffix)) ++k;
  return k;
}

}  // namespace osor::test
