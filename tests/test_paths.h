// Where the tests find their inputs: fixtures copied into the repository, the large conformance set
// ($OSOR_CONFORMANCE_DIR, default ../shared/conformance) and the built osor binary.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace osor::test {

inline std::filesystem::path fixtures_dir() { return OSOR_TEST_FIXTURES_DIR; }
inline std::filesystem::path conformance_fixtures() { return fixtures_dir() / "conformance"; }

// The shared conformance folder, or empty when it is absent (tests that need it then skip loudly).
inline std::filesystem::path shared_conformance_dir() {
  const char* env = std::getenv("OSOR_CONFORMANCE_DIR");
  const std::filesystem::path dir = env && *env ? std::filesystem::path(env) : std::filesystem::path(OSOR_DEFAULT_CONFORMANCE_DIR);
  return std::filesystem::is_directory(dir) ? dir : std::filesystem::path();
}

// A fresh, empty scratch folder under the build tree.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(OSOR_TEST_SCRATCH_DIR) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace osor::test
