// What every test of a conformance fixture shares (ARCHITECTURE.md, "Tests"): such a test is named
// `conformance: <area>/<fixture> ...` and reads its inputs, weights, expectations and tolerances only from the
// fixture set ($OSOR_CONFORMANCE_DIR, default ../shared/conformance), so that another set of the same layout
// (other seeds, sizes, pictures) checks it too. Nothing here may hold a number that belongs to a fixture.
//
//   TEST_CASE("conformance: fid/fd_d64 Fréchet distance matches pytorch-fid") {
//     OSOR_REQUIRE_CONFORMANCE(conf, "fid/fd_d64.safetensors");  // or skips the test loudly
//     const auto expected = osor::test::read_fixture_json(conf / "fid" / "expected.json");
//     ...
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/test_paths.h"

namespace osor::test {

// The conformance folder when `relative` (a fixture file or folder in it, e.g. "fid/fd_d64.safetensors")
// exists there; otherwise empty, after a SKIPPED message that names the path looked at and how the folder was
// chosen.
inline std::filesystem::path conformance_root_with(const std::string& relative) {
  const std::filesystem::path root = conformance_dir_setting();
  if (std::filesystem::exists(root / relative)) return root;
  const char* env = std::getenv("OSOR_CONFORMANCE_DIR");
  // A std::string: doctest prints a bare const char* from a conditional as a pointer.
  const std::string chosen = env && *env ? "folder from $OSOR_CONFORMANCE_DIR"
                                         : "default folder; set $OSOR_CONFORMANCE_DIR to use another";
  MESSAGE("SKIPPED: conformance fixture " << (root / relative).string() << " not found (" << chosen << ")");
  return {};
}

// A fixture's JSON file, parsed; fails the test (naming the file) when it cannot be read.
inline nlohmann::json read_fixture_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path.string());
  return nlohmann::json::parse(in);
}

// A tolerance a fixture JSON states in words, e.g. model/osor_sdxl_e2e.json tolerance.uint8 = "<= 1 level
// where ...": the number after "<=". Fails the test when the text has none.
inline double tolerance_in_words(const std::string& text) {
  const size_t at = text.find("<=");
  REQUIRE_MESSAGE(at != std::string::npos, "no '<= N' in the tolerance text '" << text << "'");
  return std::stod(text.substr(at + 2));  // stod skips the blank after "<="
}

// Tolerances of the image-metric fixtures (psnr_ssim, fid, lpips, cmmd). Their JSON files give the measured
// float32-vs-float64 spreads but no tolerance field, so these are the tolerances the set's README states
// (section in each comment). The model/ fixtures' JSON files carry their own (but for §7's pipelines); tests
// read those there.
namespace readme_tolerance {
inline constexpr double kPixelMetricsFloat64 = 1e-9;  // §1: float64 PSNR (dB) and SSIM, absolute
inline constexpr double kFrechetFullRank = 1e-9;      // §2a: float64, relative (d64, d256: n > d)
inline constexpr double kFrechetSingular = 1e-6;      // §2a: float64, relative, n <= d (singular covariances)
inline constexpr double kInceptionPool3 = 2e-3;       // §2b: float32 pool3 vs pool3_f64, max abs
inline constexpr double kLpipsFloat32 = 1e-6;         // §3: float32 vs lpips_f64, absolute
inline constexpr double kMmdFloat64 = 1e-9;           // §4a: float64 vs mmd_f64, relative
inline constexpr double kMmdFloat32Kernels = 5e-6;    // §4a: float32 kernels, double sums, vs mmd_f64, absolute
inline constexpr double kClipEmbeds = 1e-5;           // §4b: float32 image_embeds vs image_embeds_f64, max abs
inline constexpr double kOccupancyFloat32 = 1e-5;     // §5: float32 occupancy grids vs the F64 ones (nearest/max: exact)
inline constexpr double kMultiStepPipelineLevels = 1.0;  // §7: the multi-step pipelines, <= 1 level per pixel (8-bit)
}  // namespace readme_tolerance

}  // namespace osor::test

// Declares `const std::filesystem::path root`, the conformance folder, when `relative` (the fixture file or
// folder the test reads, e.g. "model/sdxl_unet.json") exists in it; otherwise prints a SKIPPED message naming
// the path looked at and returns from the enclosing function (the test case, or a void helper).
#define OSOR_REQUIRE_CONFORMANCE(root, relative)                                      \
  const std::filesystem::path root = ::osor::test::conformance_root_with(relative); \
  if (root.empty()) return
