#include "harness/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "harness/atomic_file.h"
#include "harness/error.h"

namespace fs = std::filesystem;

namespace osor::harness {
namespace {

constexpr const char* kLockFile = ".lock";

std::string read_small_file(int fd) {
  char buf[64] = {0};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

RunLock::RunLock(const fs::path& run_dir) {
  const fs::path file = run_dir / kLockFile;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw HarnessError(file.string() + ": cannot open the run's lock file: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_small_file(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw HarnessError(run_dir.string() + ": the run folder is in use by another osor process" +
                         (holder.empty() ? std::string() : " (pid " + holder + ")") +
                         "; wait for it to finish, or choose another --out");
    throw HarnessError(file.string() + ": cannot lock the run folder: " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t ignored = ::pwrite(fd_, pid.data(), pid.size(), 0);
    (void)ignored;
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

fs::path claim_unique_run_dir(const fs::path& base) {
  if (!base.parent_path().empty()) fs::create_directories(base.parent_path());
  for (int i = 1; i < 10000; ++i) {
    const fs::path candidate = i == 1 ? base : fs::path(base.string() + "-" + std::to_string(i));
    std::error_code ec;
    if (fs::create_directory(candidate, ec)) return candidate;
    if (ec) throw HarnessError(candidate.string() + ": cannot create the run folder: " + ec.message());
  }
  throw HarnessError(base.string() + ": no free run folder name (tried 9999 suffixes)");
}

bool is_empty_run_dir(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename() != kLockFile) return false;
  return true;
}

nlohmann::json read_json_file(const fs::path& file) {
  const auto bytes = read_file_bytes(file);
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw HarnessError(file.string() + ": invalid JSON: " + e.what());
  }
}

std::optional<SampleRecord> read_finished_record(const fs::path& file, std::string* damaged) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  try {
    const nlohmann::json j = read_json_file(file);  // its errors name the file
    try {
      SampleRecord record = sample_from_json(j);
      if (record.status != "ok" && record.status != "failed") throw HarnessError("status '" + record.status + "'");
      return record;
    } catch (const std::exception& e) {
      throw HarnessError(file.string() + ": not a sample record: " + e.what());
    }
  } catch (const std::exception& e) {
    if (damaged) *damaged = e.what();
    return std::nullopt;
  }
}

}  // namespace osor::harness
