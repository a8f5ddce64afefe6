#include "adapters/external_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "adapters/error.h"

extern char** environ;

namespace osor::adapters {
namespace {

void close_pipe(int p[2]) {
  if (p[0] >= 0) ::close(p[0]);
  if (p[1] >= 0) ::close(p[1]);
}

}  // namespace

CommandOutput run_command(const std::vector<std::string>& argv, double timeout_s) {
  if (argv.empty()) throw AdapterError("external command: empty argument vector");
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    close_pipe(out_pipe);
    close_pipe(err_pipe);
    throw AdapterError(argv[0] + ": cannot create pipes: " + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw AdapterError(argv[0] + ": cannot start the program: " + std::strerror(rc));
  }
  CommandOutput result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  if (!result.timed_out) {  // both pipes closed: wait for the exit, still within the deadline
    pid_t done = 0;
    while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) ::usleep(2000);
    if (done == 0) result.timed_out = true;
    else if (done < 0) status = 0;
  }
  if (result.timed_out) {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 20 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::usleep(50000);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  for (pollfd& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  result.exit_code = !result.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::vector<std::string> substitute(const std::vector<std::string>& argv, const std::map<std::string, std::string>& values) {
  std::vector<std::string> out;
  for (std::string a : argv) {
    for (const auto& [name, value] : values) {
      const std::string key = "{" + name + "}";
      for (size_t pos = a.find(key); pos != std::string::npos; pos = a.find(key, pos + value.size()))
        a.replace(pos, key.size(), value);
    }
    out.push_back(a);
  }
  return out;
}

std::string describe_failure(const std::vector<std::string>& argv, const CommandOutput& result) {
  std::string what = argv.empty() ? std::string("command") : argv[0];
  if (result.timed_out) what += ": timed out";
  else what += ": exit status " + std::to_string(result.exit_code);
  std::string err = result.err;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  const size_t nl = err.rfind('\n');
  if (!err.empty()) what += " (stderr: " + (nl == std::string::npos ? err : err.substr(nl + 1)) + ")";
  return what;
}

}  // namespace osor::adapters
