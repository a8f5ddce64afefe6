// link_or_copy_file_atomic (harness/atomic_file.h): the runner puts identity and precomputed outputs in place with it.
#include <doctest/doctest.h>

#include <fstream>

#include "harness/atomic_file.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;

TEST_CASE("link_or_copy_file_atomic: the file's bytes at the path, twice over the same link, no temporary left") {
  const fs::path dir = osor::test::scratch_dir("link_or_copy");
  const fs::path source = dir / "source.png", target = dir / "out" / "target.png";
  std::ofstream(source) << "the bytes of a picture";
  osor::harness::link_or_copy_file_atomic(source, target);
  CHECK(osor::harness::read_file_bytes(target) == osor::harness::read_file_bytes(source));
  // Again (a removal redone after an interruption): the target is already a link to the same file.
  osor::harness::link_or_copy_file_atomic(source, target);
  CHECK(osor::harness::read_file_bytes(target) == osor::harness::read_file_bytes(source));
  // Over another file: replaced.
  const fs::path other = dir / "other.png";
  std::ofstream(other) << "another picture";
  osor::harness::link_or_copy_file_atomic(other, target);
  CHECK(osor::harness::read_file_bytes(target) == osor::harness::read_file_bytes(other));
  for (const auto& e : fs::recursive_directory_iterator(dir))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, e.path().string());
  CHECK_THROWS(osor::harness::link_or_copy_file_atomic(dir / "missing.png", dir / "out" / "x.png"));
}
