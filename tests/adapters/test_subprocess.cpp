// run_command's bounds and process lifetime: a flood of output keeps only each stream's tail (counted,
// quoted short), the program's own exit ends the call even when a background child holds its pipes, and
// nothing it started outlives the call, on exit, on timeout, or when a signal ends osor itself.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/subprocess.h"
#include "tests/cli/osor_process.h"
#include "tests/test_paths.h"

using namespace osor;
namespace fs = std::filesystem;

namespace {

// Gone: no such process, or a zombie (it has ended, only its new parent's wait() is missing, and a
// container's PID 1 may never do that).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');  // "pid (comm) S ...": comm may itself hold spaces and parentheses
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// run_command has sent the signals when it returns; their delivery is asynchronous, so this polls for up to
// 10 s (correctness does not depend on the limit). A survivor is killed so a failing test leaves nothing.
void check_gone(pid_t pid) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool gone = process_gone(pid);
  while (!gone && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gone = process_gone(pid);
  }
  CAPTURE(pid);
  CHECK(gone);
  if (!gone) ::kill(pid, SIGKILL);
}

std::vector<pid_t> read_pids(const fs::path& file) {
  std::ifstream in(file);
  std::vector<pid_t> pids;
  for (long pid = 0; in >> pid;) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// `osor eval` of one sample through a `command:` method that is a shell script: it appends its pid to
// `pid_file`, runs `then` and execs a 60 s sleep (which only a signal ends early). Returns osor's pid.
pid_t start_eval_of_sleeping_program(const fs::path& dir, const std::string& then, fs::path& pid_file, fs::path& log) {
  pid_file = dir / "program.pid";
  log = dir / "osor.log";
  const fs::path script = dir / "remover.sh";
  std::ofstream(script) << "#!/bin/sh\necho $$ >> '" << pid_file.string() << "'\n" << then << "exec sleep 60\n";
  fs::permissions(script, fs::perms::owner_all);
  return test::start_osor({"eval", "--method", "command:argv=" + script.string() + " {input} {output}", "--metrics",
                           "psnr", "--masks", "object", "--limit", "1", "--out", (dir / "run").string()},
                          log);
}

}  // namespace

TEST_CASE("external command: 50 MB on stdout and a 5 MB stderr line keep only each stream's tail, counted") {
  // stdout: 50,000,000 zero bytes then "END". stderr: one line of 5,000,000 'x' then " the reason\n".
  const std::string script =
      "head -c 50000000 /dev/zero; printf END; "
      "{ head -c 5000000 /dev/zero | tr '\\000' x; printf ' the reason\\n'; } >&2; exit 4";
  const auto r = adapters::run_command({"sh", "-c", script}, 120);
  CHECK(!r.timed_out);
  CHECK(r.exit_code == 4);
  REQUIRE(r.out.size() == adapters::kCommandOutputKeep);
  CHECK(r.out_dropped == 50000003 - adapters::kCommandOutputKeep);
  CHECK(r.out.find_first_not_of('\0') == r.out.size() - 3);
  CHECK(r.out.compare(r.out.size() - 3, 3, "END") == 0);
  REQUIRE(r.err.size() == adapters::kCommandOutputKeep);
  CHECK(r.err_dropped == 5000012 - adapters::kCommandOutputKeep);
  CHECK(r.err.compare(r.err.size() - 12, 12, " the reason\n") == 0);

  // The quote is the line's last kFailureLineKeep bytes, marked where its start is missing.
  const std::string text = adapters::describe_failure({"sh"}, r);
  CAPTURE(text.substr(0, 400));
  CHECK(text == "sh: exit status 4 (stderr: ..." + std::string(adapters::kFailureLineKeep - 11, 'x') + " the reason)");
}

TEST_CASE("external command: describe_failure quotes the end of stderr's last line, cut at a character boundary") {
  adapters::CommandOutput r;
  r.exit_code = 2;
  r.err = "loading\n10%\r50%\rCUDA out of memory\n\n";
  CHECK(adapters::describe_failure({"m"}, r) == "m: exit status 2 (stderr: CUDA out of memory)");

  r.err = "first\n" + std::string(1000, 'y') + " the end\n";
  const std::string long_line = adapters::describe_failure({"m"}, r);
  CHECK(long_line == "m: exit status 2 (stderr: ..." + std::string(adapters::kFailureLineKeep - 8, 'y') + " the end)");

  // 400 two-byte characters and a 'z': the last kFailureLineKeep bytes start inside a character, which is skipped.
  r.err.clear();
  for (int i = 0; i < 400; ++i) r.err += "\xC3\xA9";
  r.err += "z";
  const std::string utf8 = adapters::describe_failure({"m"}, r);
  const std::string head = "m: exit status 2 (stderr: ...";
  REQUIRE(utf8.size() > head.size());
  CHECK(utf8.compare(0, head.size(), head) == 0);
  CHECK(utf8[head.size()] == '\xC3');
  CHECK(utf8.size() - head.size() == (adapters::kFailureLineKeep - 1) + std::string(")").size());
  CHECK(utf8.compare(utf8.size() - 2, 2, "z)") == 0);

  // A line whose start went with the dropped head of the stream is marked even when it fits.
  r.err = "tail of a long line";
  r.err_dropped = 10;
  CHECK(adapters::describe_failure({"m"}, r) == "m: exit status 2 (stderr: ...tail of a long line)");
}

TEST_CASE("external command: the program's own exit ends the call, with its status, and ends what it left running") {
  const fs::path dir = test::scratch_dir("command_lifetime");
  const fs::path pid_file = dir / "background.pid";
  // The background sleep inherits stdout and stderr and holds them open for 30 s after sh exits.
  const auto r = adapters::run_command(
      {"sh", "-c", "sleep 30 & echo $! > \"$1\"; echo done; exit 0", "sh", pid_file.string()}, 20);
  CHECK(!r.timed_out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("done") != std::string::npos);
  const auto pids = read_pids(pid_file);
  REQUIRE(pids.size() == 1);
  check_gone(pids[0]);

  // The status is the program's, not the SIGTERM that ends its leftovers.
  const auto failed = adapters::run_command(
      {"sh", "-c", "sleep 30 & echo $! > \"$1\"; echo 'gave up' >&2; exit 7", "sh", pid_file.string()}, 20);
  CHECK(!failed.timed_out);
  CHECK(failed.exit_code == 7);
  CHECK(adapters::describe_failure({"sh"}, failed) == "sh: exit status 7 (stderr: gave up)");
  const auto more = read_pids(pid_file);
  REQUIRE(more.size() == 1);
  check_gone(more[0]);
}

TEST_CASE("external command: a timeout ends the program and every process it started") {
  const fs::path dir = test::scratch_dir("command_timeout_group");
  const fs::path pid_file = dir / "children.pid";
  // 3 s leaves sh time to start both sleeps and write their ids before the timeout, on a loaded 2-core CI
  // machine too.
  const auto r = adapters::run_command(
      {"sh", "-c", "sleep 30 & echo $! > \"$1\"; sleep 30 & echo $! >> \"$1\"; wait", "sh", pid_file.string()}, 3.0);
  CHECK(r.timed_out);
  CHECK(r.exit_code == -1);
  const auto pids = read_pids(pid_file);
  REQUIRE(pids.size() == 2);
  for (const pid_t pid : pids) check_gone(pid);
}

TEST_CASE("external command: Ctrl-C, SIGTERM or SIGHUP to osor reaches the program it runs, and osor ends by the signal") {
  // The program leads a process group of its own (so its leftovers can be ended), out of the terminal's
  // foreground group: without forwarding, the signal ended osor and left the program running.
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    CAPTURE(sig);
    fs::path pid_file, log;
    const pid_t osor = start_eval_of_sleeping_program(test::scratch_dir("command_signal_forwarding"), "", pid_file, log);
    // osor loads the benchmark, then starts the program, which writes its pid and waits.
    int status = 0;
    const bool started = test::wait_while_running(osor, [&] { return !read_pids(pid_file).empty(); }, status);
    REQUIRE_MESSAGE(started, "the program never started while osor ran; osor's output: " << test::file_text(log));
    const pid_t program = read_pids(pid_file).at(0);

    REQUIRE(::kill(osor, sig) == 0);
    REQUIRE(::waitpid(osor, &status, 0) == osor);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == sig);
    check_gone(program);
  }
}

TEST_CASE("external command: a signal to osor while it is starting the program still reaches the program") {
  // The program signals osor the moment it runs, before osor can have listed it among its running programs:
  // the earliest a scheduler's signal can come. It must end anyway, every time.
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    fs::path pid_file, log;
    const pid_t osor = start_eval_of_sleeping_program(test::scratch_dir("command_signal_while_starting"),
                                                      "kill -s TERM $PPID\n", pid_file, log);
    int status = 0;
    REQUIRE(::waitpid(osor, &status, 0) == osor);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGTERM);
    const auto pids = read_pids(pid_file);
    REQUIRE_MESSAGE(pids.size() == 1, "osor's output: " << test::file_text(log));
    check_gone(pids[0]);
  }
}
