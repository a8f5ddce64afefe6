// Benchmark specs: every bundled spec parses; the sample benchmark is complete; the loader reads layouts
// with any image extension and either mask polarity; `check` names missing files and size mismatches; a spec's
// version is required and its sha256 recorded; one bad or duplicated spec costs only itself.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <functional>
#include <set>

#include "harness/benchmark.h"
#include "harness/error.h"
#include "harness/image_io.h"
#include "harness/sha256.h"
#include "tests/test_paths.h"

using namespace osor;
namespace fs = std::filesystem;

TEST_CASE("every spec in bench_data/ parses and the bundled sample is complete") {
  const auto catalog = harness::read_benchmark_catalog(harness::default_bench_dir());
  for (const auto& p : catalog.problems) MESSAGE(p);
  CHECK(catalog.problems.empty());
  const auto specs = harness::list_benchmarks(harness::default_bench_dir());
  std::set<std::string> names;
  for (const auto& s : specs) {
    const std::string file = s.spec_file.string();
    CAPTURE(file);
    names.insert(s.name);
    CHECK(s.version >= 1);
    CHECK(s.sha256 == harness::sha256_file(s.spec_file));
  }
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
  std::ofstream(spec_file) << R"({"name": "rord-test", "version": 1, "root": "RORD", "input": "test/img/{id}.*", "gt": "test/gt/{id}.*",
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
  std::ofstream(root / "bad.json") << R"({"name": "bad", "version": 1, "root": "x", "input": "img/a.png", "gt": "g/{id}.png", "object_mask": "m/{id}.png"})";
  CHECK_THROWS_WITH_AS(harness::read_benchmark_spec(root / "bad.json"), doctest::Contains("has no {id}"), HarnessError);
}

namespace {

// A minimal valid spec named `name` (the patterns are never resolved by these tests).
std::string spec_text(const std::string& name, const std::string& version_field = R"("version": 1, )") {
  return "{\"name\": \"" + name + "\", " + version_field +
         R"("root": "x", "input": "i/{id}.png", "gt": "g/{id}.png", "object_mask": "m/{id}.png"})";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const HarnessError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("benchmark spec version: required, an integer >= 1, errors name the file and the field") {
  const fs::path dir = test::scratch_dir("bench_spec_version");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"absent", ""},
      {"null", R"("version": null, )"},
      {"string", R"("version": "1", )"},
      {"float", R"("version": 1.0, )"},
      {"zero", R"("version": 0, )"},
      {"negative", R"("version": -2, )"},
      {"bool", R"("version": true, )"},
      {"huge", R"("version": 4294967296, )"},
  };
  for (const auto& entry : bad) {
    const std::string name = entry.first;
    CAPTURE(name);
    const fs::path file = dir / (name + ".json");
    std::ofstream(file) << spec_text(name, entry.second);
    const std::string message = error_of([&] { harness::read_benchmark_spec(file); });
    CHECK(message.rfind(file.string() + ": ", 0) == 0);
    CHECK(message.find("'version'") != std::string::npos);
  }
  CHECK(error_of([&] { harness::read_benchmark_spec(dir / "absent.json"); }) ==
        (dir / "absent.json").string() + ": missing field 'version' (an integer >= 1, raised when the spec's meaning changes)");
  CHECK(error_of([&] { harness::read_benchmark_spec(dir / "float.json"); }) ==
        (dir / "float.json").string() + ": field 'version' must be an integer >= 1, got 1.0");
}

TEST_CASE("benchmark spec sha256 is of the spec file's bytes and changes with any edit") {
  const fs::path dir = test::scratch_dir("bench_spec_sha256");
  const std::string text = spec_text("hashed", R"("version": 3, )");
  std::ofstream(dir / "hashed.json") << text;
  const auto spec = harness::read_benchmark_spec(dir / "hashed.json");
  CHECK(spec.version == 3);
  CHECK(spec.sha256.size() == 64);
  CHECK(spec.sha256 == harness::sha256_hex(text.data(), text.size()));
  std::ofstream(dir / "hashed.json") << text << "\n";  // same meaning, other bytes
  CHECK(harness::read_benchmark_spec(dir / "hashed.json").sha256 != spec.sha256);
}

TEST_CASE("benchmark catalog: a malformed spec is reported with its file and the others still load") {
  const fs::path dir = test::scratch_dir("bench_catalog_malformed");
  std::ofstream(dir / "good.json") << spec_text("good");
  std::ofstream(dir / "no_version.json") << spec_text("stale", "");
  std::ofstream(dir / "broken.json") << "{\"name\": \"broken\",";
  const auto catalog = harness::read_benchmark_catalog(dir);
  REQUIRE(catalog.specs.size() == 1);
  CHECK(catalog.specs[0].name == "good");
  REQUIRE(catalog.problems.size() == 2);
  CHECK(catalog.problems[0].rfind((dir / "broken.json").string() + ": invalid JSON", 0) == 0);
  CHECK(catalog.problems[1] == (dir / "no_version.json").string() +
                                   ": missing field 'version' (an integer >= 1, raised when the spec's meaning changes)");
  CHECK(harness::find_benchmark("good", dir).name == "good");
  // The name only the malformed file gives: unknown, with the known names and every unreadable file.
  const std::string unknown = error_of([&] { harness::find_benchmark("stale", dir); });
  CHECK(unknown.rfind("unknown benchmark 'stale' (known: good; specs in " + dir.string() + ")", 0) == 0);
  CHECK(unknown.find((dir / "no_version.json").string() + ": missing field 'version'") != std::string::npos);
  CHECK(unknown.find((dir / "broken.json").string() + ": invalid JSON") != std::string::npos);
  // The strict listing refuses the folder and names both files.
  const std::string strict = error_of([&] { harness::list_benchmarks(dir); });
  CHECK(strict.find("2 problem(s)") != std::string::npos);
  CHECK(strict.find("broken.json") != std::string::npos);
  CHECK(strict.find("no_version.json") != std::string::npos);
  CHECK(error_of([&] { harness::read_benchmark_catalog(dir / "absent"); }) ==
        (dir / "absent").string() + ": benchmark folder not found");
}

TEST_CASE("benchmark catalog: two specs with one name are a problem, neither is used, find_benchmark names both files") {
  const fs::path dir = test::scratch_dir("bench_catalog_duplicate");
  std::ofstream(dir / "a.json") << spec_text("twin");
  std::ofstream(dir / "b.json") << spec_text("twin");
  std::ofstream(dir / "c.json") << spec_text("single");
  const auto catalog = harness::read_benchmark_catalog(dir);
  REQUIRE(catalog.specs.size() == 1);
  CHECK(catalog.specs[0].name == "single");
  REQUIRE(catalog.problems.size() == 1);
  CHECK(catalog.problems[0] == "benchmark name 'twin' is given by 2 spec files (" + (dir / "a.json").string() + ", " +
                                   (dir / "b.json").string() + "); none of them is used until one is renamed or removed");
  REQUIRE(catalog.shared_names.count("twin") == 1);
  CHECK(catalog.shared_names.at("twin").size() == 2);
  CHECK(error_of([&] { harness::find_benchmark("twin", dir); }) ==
        "benchmark 'twin' is given by 2 spec files (" + (dir / "a.json").string() + ", " + (dir / "b.json").string() +
            "); rename or remove all but one");
  CHECK(harness::find_benchmark("single", dir).spec_file == dir / "c.json");
}
