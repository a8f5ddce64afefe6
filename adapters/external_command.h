// Runs an external program (a removal method, SAVP's detector or segmenter) from an argument vector:
// no shell, so paths and prompts with spaces or quotes pass through unchanged. stdout and stderr are
// captured; a program still running after the timeout is killed (SIGTERM, then SIGKILL).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace osor::adapters {

struct CommandOutput {
  int exit_code = -1;  // -1 when killed by a signal or the timeout
  bool timed_out = false;
  std::string out, err;
};

// argv[0] is looked up on PATH when it has no '/'. Throws HarnessError when the program cannot start.
CommandOutput run_command(const std::vector<std::string>& argv, double timeout_s);

// Replaces {name} in every argument by values.at(name); an unknown {name} stays as written.
std::vector<std::string> substitute(const std::vector<std::string>& argv, const std::map<std::string, std::string>& values);

// One-line description of a failed call for error messages: the program, exit status or timeout, and
// the last line of its stderr.
std::string describe_failure(const std::vector<std::string>& argv, const CommandOutput& result);

}  // namespace osor::adapters
