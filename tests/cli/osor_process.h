// The built osor started in the background (not waited for, unlike run_osor), for tests that signal it while it
// runs: Ctrl-C, a scheduler's SIGTERM.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_paths.h"

extern char** environ;

namespace osor::test {

// `osor args...` (posix_spawn, never fork() of this threaded process), stdout and stderr in `log`, with the
// default dispositions of the signals tests send and no blocked signals, whatever this process has. `env`
// ("NAME=value") is added to this process's environment, replacing variables of the same names.
inline pid_t start_osor(const std::vector<std::string>& args, const std::filesystem::path& log,
                        const std::vector<std::string>& env = {}) {
  std::vector<std::string> variables;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    bool replaced = false;
    for (const auto& v : env) replaced = replaced || entry.substr(0, entry.find('=') + 1) == v.substr(0, v.find('=') + 1);
    if (!replaced) variables.push_back(entry);
  }
  variables.insert(variables.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::vector<std::string> arguments = {OSOR_BINARY};
  arguments.insert(arguments.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : arguments) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << OSOR_BINARY << ": " << std::strerror(rc));
  return pid;
}

inline std::string file_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// What poll_process saw first.
enum class PollEnd { Ready, Exited, TimedOut };

// Polls every 20 ms until `ready` holds, the process `pid` ends (its wait status in `status`) or `limit` passes;
// a process still running at the limit is killed (and its status collected).
inline PollEnd poll_process(pid_t pid, const std::function<bool()>& ready, int& status, std::chrono::seconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (ready()) return PollEnd::Ready;
    if (::waitpid(pid, &status, WNOHANG) == pid) return PollEnd::Exited;
    if (std::chrono::steady_clock::now() >= give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return PollEnd::TimedOut;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Whether `ready` held while `pid` ran (within `limit`, after which it is killed).
inline bool wait_while_running(pid_t pid, const std::function<bool()>& ready, int& status,
                               std::chrono::seconds limit = std::chrono::seconds(180)) {
  return poll_process(pid, ready, status, limit) == PollEnd::Ready;
}

// Whether `pid` ended within `limit` (its wait status in `status`); it is killed if it did not.
inline bool wait_for_exit(pid_t pid, int& status, std::chrono::seconds limit = std::chrono::seconds(120)) {
  return poll_process(pid, [] { return false; }, status, limit) == PollEnd::Exited;
}

}  // namespace osor::test
