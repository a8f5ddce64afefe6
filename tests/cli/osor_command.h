// Runs the built osor binary for CLI tests: arguments as one shell-word string (the tests pass plain paths),
// stdout captured, stderr in a per-process file (ctest runs a file's test cases in parallel).
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/test_paths.h"

namespace osor::test {

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

inline CommandResult run_osor(const std::string& args) {
  const std::filesystem::path err_file =
      std::filesystem::path(OSOR_TEST_SCRATCH_DIR) / ("osor_stderr." + std::to_string(::getpid()) + ".txt");
  const std::string cmd = std::string(OSOR_BINARY) + " " + args + " 2>" + err_file.string();
  CommandResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  result.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  in.close();
  std::error_code ignored;
  std::filesystem::remove(err_file, ignored);
  return result;
}

}  // namespace osor::test
