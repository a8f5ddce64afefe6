// Where the tests find their inputs: fixtures copied into the repository, the conformance fixture set
// ($OSOR_CONFORMANCE_DIR, default ../shared/conformance) and the built osor binary.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

// The build's locations live in one translation unit (tests/test_locations.cpp, the only one compiled with
// their absolute paths), so that every other test compiles to the same command line in any checkout and ccache
// shares it between clones.
namespace osor::test::location {
extern const char* const fixtures;       // tests/fixtures in the source tree
extern const char* const conformance;    // ../shared/conformance beside the source tree
extern const char* const scratch;        // scratch space in the build tree
extern const char* const model_configs;  // model/configs in the source tree
extern const char* const osor_binary;    // the built osor
}  // namespace osor::test::location

#define OSOR_TEST_FIXTURES_DIR (::osor::test::location::fixtures)
#define OSOR_DEFAULT_CONFORMANCE_DIR (::osor::test::location::conformance)
#define OSOR_TEST_SCRATCH_DIR (::osor::test::location::scratch)
#define OSOR_MODEL_CONFIGS_DIR (::osor::test::location::model_configs)
#define OSOR_BINARY (::osor::test::location::osor_binary)

namespace osor::test {

inline std::filesystem::path fixtures_dir() { return OSOR_TEST_FIXTURES_DIR; }

// Small pictures (pNN_pred/_ref/_mask.png) used as ordinary inputs: a PNG to remove an object from, a pair to
// score. Conformance checks never read them: they read the fixture set below, inputs and expectations alike, so
// that another fixture set of the same layout checks them too.
inline std::filesystem::path sample_images() { return fixtures_dir() / "images"; }

// Where the conformance fixture set is looked for: $OSOR_CONFORMANCE_DIR, else ../shared/conformance beside
// the repository. The folder may be absent.
inline std::filesystem::path conformance_dir_setting() {
  const char* env = std::getenv("OSOR_CONFORMANCE_DIR");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(OSOR_DEFAULT_CONFORMANCE_DIR);
}

// The conformance folder, or empty when it is absent (tests that need it then skip loudly; see
// tests/conformance_fixture.h).
inline std::filesystem::path shared_conformance_dir() {
  const std::filesystem::path dir = conformance_dir_setting();
  return std::filesystem::is_directory(dir) ? dir : std::filesystem::path();
}

// A fresh, empty scratch folder under the build tree.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(OSOR_TEST_SCRATCH_DIR) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A fresh, empty scratch folder of this process: ctest runs every test case in a process of its own, in parallel,
// so test cases that share a folder name need this one.
inline std::filesystem::path process_scratch_dir(const std::string& name) {
  return scratch_dir(name + "." + std::to_string(::getpid()));
}

}  // namespace osor::test
