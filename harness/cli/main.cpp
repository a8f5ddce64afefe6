// The `osor` command line: subcommands register themselves from harness/cli/<name>.cpp. Any
// osor::Error (or other exception) becomes one line on stderr and exit code 2 (1 is reserved for
// "the check failed", e.g. a regression found by `osor compare`).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <c10/util/Exception.h>
#include <exception>

#include "harness/cli/commands.h"
#include "model/error.h"
#include "model/cpu_threads.h"
#include "model/host_allocator.h"

// harness/CMakeLists.txt defines it from project(... VERSION ...) in the top-level CMakeLists.txt.
#ifndef OSOR_VERSION
#error "OSOR_VERSION is not defined: build through CMake (harness/CMakeLists.txt)"
#endif

namespace osor::cli {
std::vector<std::pair<std::string, AddCommand>>& registered_commands() {
  static std::vector<std::pair<std::string, AddCommand>> commands;
  return commands;
}
}  // namespace osor::cli

int main(int argc, char** argv) {
  osor::model::configure_host_allocator();
  CLI::App app{"OSOR: evaluation harness for object removal"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "osor " OSOR_VERSION);
  int threads = 0;
  app.add_option("--threads", threads,
                 "CPU threads of LibTorch (default: $OSOR_NUM_THREADS, else $OMP_NUM_THREADS, else every usable core)")
      ->check(CLI::Range(1, 4096));
  auto commands = osor::cli::registered_commands();
  std::sort(commands.begin(), commands.end());
  for (const auto& [name, add] : commands) add(app);
  try {
    // Before any subcommand runs (CLI11 calls their callbacks from parse), after the options are read.
    app.parse_complete_callback([&threads] { osor::model::configure_cpu_threads(threads); });
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (ARCHITECTURE.md), not CLI11's own codes 104-109.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const osor::cli::ExitStatus& status) {
    return status.code;
  } catch (const osor::Error& e) {
    std::fprintf(stderr, "osor: error: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {  // what() would add a C++ backtrace
    std::fprintf(stderr, "osor: error: %s\n", e.what_without_backtrace());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "osor: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
