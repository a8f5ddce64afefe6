#include "adapters/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "adapters/error.h"

extern char** environ;

namespace osor::adapters {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often the running program is checked for its exit: poll() wakes for output, not for an exit whose
// pipes a descendant still holds. Short, because it adds to every measured per-sample latency.
constexpr milliseconds kExitPoll{2};
// Between SIGTERM and SIGKILL: a program stopped by the timeout may want to clean up; after a normal exit
// only leftovers remain, and a container's PID 1 that never reaps their zombies costs this much, once.
constexpr milliseconds kTermGraceTimeout{1000};
constexpr milliseconds kTermGraceExited{200};

void close_pipe(int p[2]) {
  if (p[0] >= 0) ::close(p[0]);
  if (p[1] >= 0) ::close(p[1]);
}

milliseconds until(Clock::time_point t) { return std::chrono::duration_cast<milliseconds>(t - Clock::now()); }

// Appends n bytes to the kept tail of a stream; what falls off its front is counted in `dropped`.
void append_tail(std::string& keep, size_t& dropped, const char* data, size_t n) {
  if (n >= kCommandOutputKeep) {
    dropped += keep.size() + (n - kCommandOutputKeep);
    keep.assign(data + (n - kCommandOutputKeep), kCommandOutputKeep);
    return;
  }
  if (keep.size() + n > kCommandOutputKeep) {
    const size_t cut = keep.size() + n - kCommandOutputKeep;
    keep.erase(0, cut);
    dropped += cut;
  }
  keep.append(data, n);
}

// The read ends of the program's stdout and stderr, each read into its tail in a CommandOutput. They are
// closed at their end of file or on destruction, so a descendant still writing gets EPIPE, not a full pipe.
class OutputPipes {
 public:
  OutputPipes(int out_fd, int err_fd, CommandOutput& result)
      : fds_{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}},
        keep_{&result.out, &result.err},
        dropped_{&result.out_dropped, &result.err_dropped} {}
  ~OutputPipes() {
    for (pollfd& f : fds_)
      if (f.fd >= 0) ::close(f.fd);
  }
  OutputPipes(const OutputPipes&) = delete;
  OutputPipes& operator=(const OutputPipes&) = delete;

  bool open() const { return fds_[0].fd >= 0 || fds_[1].fd >= 0; }

  // Waits up to `wait` for output and reads one chunk from each pipe that has some. With both pipes
  // closed, poll() ignores them and this just waits.
  void read_ready(milliseconds wait) {
    if (::poll(fds_, 2, static_cast<int>(std::max<long long>(wait.count(), 0))) <= 0) return;  // or EINTR
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (fds_[i].fd < 0 || !(fds_[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t got = ::read(fds_[i].fd, buf, sizeof buf);
      if (got > 0) {
        append_tail(*keep_[i], *dropped_[i], buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds_[i].fd);
        fds_[i].fd = -1;
      }
    }
  }

 private:
  pollfd fds_[2];
  std::string* keep_[2];
  size_t* dropped_[2];
};

// Starts argv (stdin /dev/null, stdout and stderr on the given pipe ends) as the leader of a new process
// group, so that kill(-pid) reaches the program and whatever it starts, and never osor itself.
// Returns posix_spawnp's error number (0 when started).
int spawn_group_leader(const std::vector<std::string>& argv, int out_fd, int err_fd, pid_t& pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // setpgid(0, 0) in the child, before exec
  // An empty signal mask: a thread of ours that blocks SIGTERM would otherwise hand the block on, and the
  // program would sit out the polite half of being stopped.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  // The same from this side: a C library whose posix_spawn returns before the child ran would leave a
  // moment in which kill(-pid) finds no group. (glibc returns after the exec; then this fails, harmlessly.)
  if (rc == 0) ::setpgid(pid, pid);
  return rc;
}

// True once the program has exited, or can no longer be waited for (ECHILD: SIGCHLD ignored, the kernel
// reaped it). WNOWAIT leaves it a zombie: its pid, and so its group's id, stays reserved until end_group()
// reaps it, so kill(-pid) cannot reach an unrelated group that came to reuse the number.
bool has_exited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno != EINTR;
  return info.si_pid == pid;
}

// waitpid retried on EINTR; true once the program is reaped (or cannot be: ECHILD).
bool reap(pid_t pid, int& status, int flags) {
  pid_t r = 0;
  while ((r = ::waitpid(pid, &status, flags)) < 0 && errno == EINTR) {
  }
  return r != 0;
}

// Any process left in the group. A zombie counts until its new parent reaps it.
bool group_alive(pid_t pgid) { return ::kill(-pgid, 0) == 0 || errno != ESRCH; }

// Ends the program and everything it started in its group: SIGTERM so they can clean up, SIGKILL for what
// is still there after `grace`. Returns the program's wait status: its own exit status when it had exited
// (0 when it was reaped behind our back, as a finished program is then taken to have succeeded).
int end_group(pid_t pid, milliseconds grace) {
  ::kill(-pid, SIGTERM);
  int status = 0;
  bool reaped = false;
  const auto give_up = Clock::now() + grace;
  for (;;) {
    if (!reaped) reaped = reap(pid, status, WNOHANG);
    if (reaped && !group_alive(pid)) return status;
    if (Clock::now() >= give_up) break;
    ::usleep(2000);
  }
  ::kill(-pid, SIGKILL);
  if (!reaped) reap(pid, status, 0);
  return status;
}

// Signals that end osor reach the programs it runs. Each program leads a process group of its own (so that
// end_group reaches what it started), which also keeps it out of the terminal's foreground group: without
// this, Ctrl-C, a scheduler's SIGTERM (SLURM, a CI timeout) or a closed terminal's SIGHUP would end osor and
// leave the program running, holding its GPU, with nobody to wait for it. While a program runs its group is
// listed in running_groups; such a signal is sent on to every listed group, then osor ends by it as it would
// have (the default action, re-raised). A signal osor was told to ignore (nohup) or that someone else handles
// is left alone: the handler is installed only over the default disposition.
//
// A program is running before osor can list it: a signal in between would end osor and miss the program (a
// CI run saw a scheduler's SIGTERM do that). So the handler is installed before the first start, and while
// any program is being started (programs_starting > 0) it only notes the signal; the thread whose start
// ends last, its program listed, then forwards it and ends osor. The handler stores before it reads the
// count and a start decrements before it reads the note (sequentially consistent atomics), so at least one
// of them sees the other: the signal is never lost, at worst forwarded twice.
constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};
// More programs at once than osor's jobs ever run; beyond it a program is simply not listed. Static storage:
// zero before any code runs, so the handler never meets an initialisation in progress.
std::array<std::atomic<pid_t>, 256> running_groups;
std::atomic<int> programs_starting{0};
std::atomic<int> signal_while_starting{0};
static_assert(std::atomic<pid_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the signal handler reads running_groups, programs_starting and signal_while_starting");

// Async-signal-safe: atomic loads, kill, sigaction and raise only.
void forward_and_end(int sig) {
  const int saved_errno = errno;
  for (auto& slot : running_groups) {
    const pid_t pgid = slot.load();
    if (pgid > 0) ::kill(-pgid, sig);
  }
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  ::sigaction(sig, &fallback, nullptr);
  ::raise(sig);  // delivered when the handler returns (at once outside one): osor ends by the signal
  errno = saved_errno;
}

void on_forwarded_signal(int sig) {
  signal_while_starting.store(sig);
  if (programs_starting.load() == 0) forward_and_end(sig);
}

void install_forwarding_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const int sig : kForwardedSignals) {
      struct sigaction current {};
      if (::sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL)
        continue;
      struct sigaction forward {};
      forward.sa_handler = &on_forwarded_signal;
      sigemptyset(&forward.sa_mask);
      for (const int other : kForwardedSignals) sigaddset(&forward.sa_mask, other);
      ::sigaction(sig, &forward, nullptr);
    }
  });
}

// A program's place among those signals reach: made before it is started, its group listed from started()
// until this ends (after end_group has ended the group).
class ForwardedGroup {
 public:
  ForwardedGroup() {
    install_forwarding_once();
    programs_starting.fetch_add(1);
  }
  // True when a signal to end osor came before this start: the caller starts nothing (see started()).
  static bool stopping() { return signal_while_starting.load() != 0; }
  // Lists the program's group (none when it did not start), then, if this was the last start in progress and
  // a signal came meanwhile, forwards it and ends osor.
  void started(pid_t pgid) {
    if (!starting_) return;
    starting_ = false;
    if (pgid > 0) {
      for (auto& slot : running_groups) {
        pid_t empty = 0;
        if (slot.compare_exchange_strong(empty, pgid)) {
          slot_ = &slot;
          break;
        }
      }
    }
    if (programs_starting.fetch_sub(1) == 1) {
      const int sig = signal_while_starting.load();
      if (sig != 0) forward_and_end(sig);
    }
  }
  ~ForwardedGroup() {
    started(0);
    if (slot_) slot_->store(0);
  }
  ForwardedGroup(const ForwardedGroup&) = delete;
  ForwardedGroup& operator=(const ForwardedGroup&) = delete;

 private:
  bool starting_ = true;
  std::atomic<pid_t>* slot_ = nullptr;
};

// The last line of stderr ('\r' ends a line too: a progress bar redraws with it), cut to its last
// kFailureLineKeep bytes but never inside a UTF-8 character, with "..." where its start is missing (cut
// here, or dropped with the head of the stream).
std::string last_stderr_line(const CommandOutput& result) {
  const std::string& err = result.err;
  size_t end = err.size();
  while (end > 0 && (err[end - 1] == '\n' || err[end - 1] == '\r')) --end;
  if (end == 0) return {};
  const size_t brk = err.find_last_of("\r\n", end - 1);
  size_t start = brk == std::string::npos ? 0 : brk + 1;
  bool cut = brk == std::string::npos && result.err_dropped > 0;
  if (end - start > kFailureLineKeep) {
    start = end - kFailureLineKeep;
    cut = true;
  }
  if (cut)
    while (start < end && (static_cast<unsigned char>(err[start]) & 0xC0) == 0x80) ++start;
  return (cut ? "..." : "") + err.substr(start, end - start);
}

}  // namespace

CommandOutput run_command(const std::vector<std::string>& argv, double timeout_s) {
  if (argv.empty()) throw AdapterError("external command: empty argument vector");
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    close_pipe(out_pipe);
    close_pipe(err_pipe);
    throw AdapterError(argv[0] + ": cannot create pipes: " + std::strerror(error));
  }
  CommandOutput result;
  OutputPipes pipes(out_pipe[0], err_pipe[0], result);
  // Declared before the start and destroyed after end_group: see kForwardedSignals.
  ForwardedGroup forwarded;
  if (ForwardedGroup::stopping()) {
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    throw AdapterError(argv[0] + ": not started: osor is stopping on a signal");
  }
  pid_t pid = 0;
  const int rc = spawn_group_leader(argv, out_pipe[1], err_pipe[1], pid);
  forwarded.started(rc == 0 ? pid : 0);
  // The program has its own copies of the write ends; ours would keep the pipes from ever reaching EOF.
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) throw AdapterError(argv[0] + ": cannot start the program: " + std::strerror(rc));

  // 1e9 s keeps the deadline within steady_clock's range for any "no limit" value a user may give.
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(std::min(timeout_s, 1e9)));
  bool exited = false;
  while (!(exited = has_exited(pid))) {
    const milliseconds left = until(deadline);
    if (left.count() <= 0) break;
    pipes.read_ready(std::min(left, kExitPoll));
  }
  if (exited) {
    // What the program wrote itself is in the pipes already; a descendant sharing them is given a moment
    // to finish, never the wait for EOF it could hold off forever.
    const auto grace_end = Clock::now() + kCommandDrainGrace;
    while (pipes.open() && until(grace_end).count() > 0) pipes.read_ready(until(grace_end));
  } else {
    result.timed_out = true;
  }
  const int status = end_group(pid, result.timed_out ? kTermGraceTimeout : kTermGraceExited);
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
  const std::string line = last_stderr_line(result);
  if (!line.empty()) what += " (stderr: " + line + ")";
  return what;
}

}  // namespace osor::adapters
