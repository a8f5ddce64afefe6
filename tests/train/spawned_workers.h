// Multi-process tests: this test binary started again as workers (posix_spawn of /proc/self/exe, never fork() of a
// process that already runs torch's threads), each running one skipped worker test case with torchrun's variables
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and OSOR_TEST_DIST_WORKER naming a folder for its results.
#pragma once

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace osor::test {

namespace fs = std::filesystem;

// A TCP port free now on the loopback interface (the kernel's choice; a small race with other programs remains).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

struct Worker {
  pid_t pid = -1;
  fs::path log;
};

// This test binary again, running only the (skipped) worker test case `test_case` (a -tc pattern), with torchrun's variables for `rank` and its output
// (stdout and stderr) in the folder's rank<N>.log.
inline Worker spawn_worker(const fs::path& folder, int rank, int world, int port, const std::string& test_case) {
  std::vector<std::string> variables;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (name != "RANK" && name != "WORLD_SIZE" && name != "LOCAL_RANK" && name != "MASTER_ADDR" &&
        name != "MASTER_PORT" && name != "OSOR_TEST_DIST_WORKER" && name != "TORCHELASTIC_USE_AGENT_STORE") {
      variables.push_back(entry);
    }
  }
  variables.push_back("OSOR_TEST_DIST_WORKER=" + folder.string());
  variables.push_back("RANK=" + std::to_string(rank));
  variables.push_back("LOCAL_RANK=" + std::to_string(rank));
  variables.push_back("WORLD_SIZE=" + std::to_string(world));
  variables.push_back("MASTER_ADDR=127.0.0.1");
  variables.push_back("MASTER_PORT=" + std::to_string(port));
  std::vector<std::string> arguments = {"/proc/self/exe", "--no-skip", "-tc=" + test_case};

  std::vector<char*> argv, envp;
  for (auto& a : arguments) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);

  Worker worker;
  worker.log = folder / ("rank" + std::to_string(rank) + ".log");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, worker.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int error = posix_spawn(&worker.pid, "/proc/self/exe", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(error == 0, "posix_spawn: " << std::strerror(error));
  return worker;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits for every worker, killing all of them once `limit` has passed (a hung rendezvous fails, never hangs CI);
// returns each one's exit status (-1: killed by the deadline or a signal).
inline std::vector<int> wait_for(std::vector<Worker>& workers, std::chrono::seconds limit) {
  std::vector<int> status(workers.size(), -1);
  std::vector<bool> done(workers.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  size_t remaining = workers.size();
  while (remaining > 0 && std::chrono::steady_clock::now() < deadline) {
    for (size_t i = 0; i < workers.size(); ++i) {
      int raw = 0;
      if (done[i] || ::waitpid(workers[i].pid, &raw, WNOHANG) != workers[i].pid) continue;
      done[i] = true;
      --remaining;
      status[i] = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (size_t i = 0; i < workers.size(); ++i) {
    if (done[i]) continue;
    ::kill(workers[i].pid, SIGKILL);
    ::waitpid(workers[i].pid, nullptr, 0);
  }
  return status;
}

}  // namespace osor::test
