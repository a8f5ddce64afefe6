#include "harness/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "harness/error.h"

namespace osor::harness {
namespace {

std::string errno_text() { return std::strerror(errno); }

// A fresh temporary name beside `path` (".<file>.tmp<pid>_<n>"), its folder created.
std::filesystem::path temporary_for(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return dir / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
}

void write_bytes_atomic(const std::filesystem::path& path, const char* data, size_t size) {
  const std::filesystem::path tmp = temporary_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw HarnessError(path.string() + ": cannot create a temporary file: " + errno_text());
  size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, data + written, size - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw HarnessError(path.string() + ": write failed: " + why);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw HarnessError(path.string() + ": write failed: " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw HarnessError(path.string() + ": cannot rename the temporary file into place: " + why);
  }
}


// The writer's pid of a temporary's name ".<file>.tmp<pid>_<n>", or -1 when the name is not one.
long temporary_owner(const std::string& name) {
  const size_t at = name.rfind(".tmp");
  if (name.empty() || name[0] != '.' || at == std::string::npos || at == 0) return -1;
  const std::string tail = name.substr(at + 4);
  const size_t underscore = tail.find('_');
  if (underscore == std::string::npos || underscore == 0 || underscore + 1 == tail.size()) return -1;
  for (size_t i = 0; i < tail.size(); ++i)
    if (i != underscore && (tail[i] < '0' || tail[i] > '9')) return -1;
  return std::strtol(tail.substr(0, underscore).c_str(), nullptr, 10);
}

}  // namespace

void link_or_copy_file_atomic(const std::filesystem::path& source, const std::filesystem::path& path) {
  const std::filesystem::path tmp = temporary_for(path);
  if (::link(source.c_str(), tmp.c_str()) != 0) {  // another file system, or links not allowed: copy the bytes
    write_file_atomic(path, read_file_bytes(source));
    return;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw HarnessError(path.string() + ": cannot rename the link to " + source.string() + " into place: " + why);
  }
  // When `path` already was a link to the same file (a removal redone after an interruption), rename() leaves both
  // names in place and succeeds: the temporary name must go.
  ::unlink(tmp.c_str());
}

size_t remove_orphaned_temporaries(const std::filesystem::path& dir) {
  size_t removed = 0;
  std::error_code ec;
  std::vector<std::filesystem::path> orphans;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const long pid = temporary_owner(it->path().filename().string());
    if (pid <= 0 || pid == static_cast<long>(::getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;  // its writer still runs
    orphans.push_back(it->path());
  }
  for (const auto& path : orphans)
    if (std::filesystem::remove(path, ec)) ++removed;
  return removed;
}

void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  write_bytes_atomic(path, content.data(), content.size());
}

void write_file_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& content) {
  write_bytes_atomic(path, reinterpret_cast<const char*>(content.data()), content.size());
}

std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw HarnessError(path.string() + ": file not found");
  if (std::filesystem::is_directory(path, ec)) throw HarnessError(path.string() + ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HarnessError(path.string() + ": cannot open: " + errno_text());
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes;
}

}  // namespace osor::harness
