// Benchmark specs: every bundled spec parses; the sample benchmark is complete; the loader reads layouts
// with any image extension and either mask polarity; `check` names missing files and size mismatches.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <set>

#include "harness/benchmark.h"
#include "harness/error.h"
#include "harness/image_io.h"
#include "tests/test_paths.h"

using namespace osor;
namespace fs = std::filesystem;

TEST_CASE("every spec in bench_data/ parses and the bundled sample is complete") {
  const auto specs = harness::list_benchmarks(harness::default_bench_dir());
  std::set<std::string> names;
  for (const auto& s : specs) names.insert(s.name);
  for (const char* name : {"sample", "rord-val", "corne-val", "anime-erase-bench", "text-erase-bench", "omnipaint-bench",
                           "removal-bench"})
    CHECK(names.count(name) == 1);
  CHECK(harness::find_benchmark("rord-val", harness::default_bench_dir()).polarity == harness::MaskPolarity::BlackIsObject);
  const auto sample = harness::find_benchmark("sample", harness::default_bench_dir());
  const auto check = harness::check_benchmark(sample, {});
  CHECK(check.samples >= 24);
  for (const auto& p : check.problems) MESSAGE(p);
  CHECK(check.ok());
  const auto samples = harness::list_samples(sample, {});
  CHECK(!samples.front().effect_mask.empty());
}

TEST_CASE("a published layout: {id}.* patterns, black-is-object masks, missing files and size mismatches") {
  const fs::path root = test::scratch_dir("bench_layout");
  const fs::path data = root / "data";
  for (const char* sub : {"RORD/test/img", "RORD/test/gt", "RORD/test/mask"}) fs::create_directories(data / sub);
  const at::Tensor img = at::rand({1, 3, 16, 20});
  at::Tensor keep = at::ones({1, 1, 16, 20});
  keep.index_put_({0, 0, at::indexing::Slice(4, 8), at::indexing::Slice(4, 8)}, 0.0);  // black = object
  harness::write_image(data / "RORD/test/img/a.jpg", img);
  harness::write_image(data / "RORD/test/gt/a.png", img);
  harness::write_image(data / "RORD/test/mask/a.png", keep);
  harness::write_image(data / "RORD/test/img/b.png", img);
  harness::write_image(data / "RORD/test/gt/b.png", at::rand({1, 3, 10, 10}));
  const fs::path spec_file = root / "rord.json";
  std::ofstream(spec_file) << R"({"name": "rord-test", "root": "RORD", "input": "test/img/{id}.*", "gt": "test/gt/{id}.*",
    "object_mask": "test/mask/{id}.*", "effect_mask": null, "mask_polarity": "black", "expected_count": 2})";
  const auto spec = harness::read_benchmark_spec(spec_file);
  const auto samples = harness::list_samples(spec, data);
  REQUIRE(samples.size() == 2);
  CHECK(samples[0].input.filename() == "a.jpg");
  CHECK(samples[1].object_mask.empty());
  const at::Tensor mask = harness::read_mask(samples[0].object_mask, spec.polarity);
  CHECK(mask.sum().item<double>() == 16);
  const auto check = harness::check_benchmark(spec, data);
  CHECK(!check.ok());
  std::string all;
  for (const auto& p : check.problems) all += p + "\n";
  CHECK(all.find("b: no mask file") != std::string::npos);
  CHECK(all.find("b.png: ground truth is 10x10, input is 16x20") != std::string::npos);
  CHECK_THROWS_WITH_AS(harness::list_samples(spec, {}), doctest::Contains("no data root"), HarnessError);
  std::ofstream(root / "bad.json") << R"({"name": "bad", "root": "x", "input": "img/a.png", "gt": "g/{id}.png", "object_mask": "m/{id}.png"})";
  CHECK_THROWS_WITH_AS(harness::read_benchmark_spec(root / "bad.json"), doctest::Contains("has no {id}"), HarnessError);
}
