// Where the tests find their inputs: fixtures copied into the repository, the conformance fixture set
// ($OSOR_CONFORMANCE_DIR, default ../shared/conformance) and the built osor binary.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

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

// The folders of process_scratch_dir, removed when the process that made them exits (not by a fork()ed child's
// exit), so that the suite does not leave a copy of its converted weights per test process behind: a CI run
// wrote several GB of them and filled its disk. OSOR_KEEP_SCRATCH=1 keeps them for a post-mortem.
class ProcessScratchFolders {
 public:
  void add(const std::filesystem::path& dir) {
    const std::lock_guard<std::mutex> lock(mutex_);
    dirs_.push_back(dir);
  }
  ~ProcessScratchFolders() {
    const char* keep = std::getenv("OSOR_KEEP_SCRATCH");
    if (::getpid() != owner_ || (keep && std::string(keep) == "1")) return;
    std::error_code ignored;
    for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ignored);
  }

 private:
  const pid_t owner_ = ::getpid();
  std::mutex mutex_;
  std::vector<std::filesystem::path> dirs_;
};

inline ProcessScratchFolders& process_scratch_folders() {
  static ProcessScratchFolders folders;
  return folders;
}

// A fresh, empty scratch folder of this process, removed when it exits: ctest runs every test case in a process
// of its own, in parallel, so test cases that share a folder name need this one.
inline std::filesystem::path process_scratch_dir(const std::string& name) {
  const std::filesystem::path dir = scratch_dir(name + "." + std::to_string(::getpid()));
  process_scratch_folders().add(dir);
  return dir;
}

}  // namespace osor::test
