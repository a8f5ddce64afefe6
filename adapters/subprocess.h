// Runs an external program (a removal method, SAVP's detector or segmenter) from an argument vector:
// no shell, so paths and prompts with spaces or quotes pass through unchanged.
//
// Output: stdout and stderr are read to the end (a program never blocks on a full pipe) but only the last
// kCommandOutputKeep bytes of each are kept; what came before is counted, not stored. A program's reason
// for failing is at the end of what it writes, and a chatty one (a progress bar per step, a tensor dump)
// must not grow osor's memory or every failed sample's record.
//
// Lifetime: the program runs in a process group of its own. Its exit is what ends the call, not the end of
// its output, so a background child that inherited the pipes cannot turn a finished run into a timeout.
// After the exit, output still in the pipes is read for up to kCommandDrainGrace; then the whole group is
// ended (SIGTERM, SIGKILL for what is left), so nothing it started outlives the call. On timeout the group
// is ended the same way. A descendant that left the group (setsid, as daemons do) is out of reach.
// The group is not the terminal's, so while a program runs, osor forwards SIGINT, SIGTERM and SIGHUP to it
// before ending by the signal itself (Ctrl-C or a scheduler's cancel ends the program too, not only osor).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace osor::adapters {

// The most of each stream a CommandOutput keeps (its end).
inline constexpr size_t kCommandOutputKeep = 64 * 1024;
// How long output is still read after the program exited: what it wrote itself is in the pipes already;
// this only lets a descendant that shares them finish a line before the group is ended.
inline constexpr std::chrono::milliseconds kCommandDrainGrace{1000};
// The most of stderr's last line that describe_failure quotes (its end, marked "..." when cut).
inline constexpr size_t kFailureLineKeep = 300;

struct CommandOutput {
  int exit_code = -1;  // -1 when killed by a signal or the timeout
  bool timed_out = false;
  std::string out, err;                     // the last kCommandOutputKeep bytes of each stream
  size_t out_dropped = 0, err_dropped = 0;  // bytes of each stream read before that tail and not kept
};

// argv[0] is looked up on PATH when it has no '/'. Throws AdapterError when the program cannot start.
CommandOutput run_command(const std::vector<std::string>& argv, double timeout_s);

// Replaces {name} in every argument by values.at(name); an unknown {name} stays as written.
std::vector<std::string> substitute(const std::vector<std::string>& argv, const std::map<std::string, std::string>& values);

// One-line description of a failed call for error messages: the program, exit status or timeout, and the
// last line of its stderr (at most its last kFailureLineKeep bytes, with "..." where it was cut).
std::string describe_failure(const std::vector<std::string>& argv, const CommandOutput& result);

}  // namespace osor::adapters
