#include "model/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace osor::log {
namespace {
std::atomic<Level> g_level{Level::Warning};
std::mutex g_stderr_mutex;

void emit(const char* prefix, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  std::fprintf(stderr, "%s%s\n", prefix, message.c_str());
  std::fflush(stderr);
}
}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void warn(const std::string& message) {
  if (g_level >= Level::Warning) emit("osor: warning: ", message);
}

void info(const std::string& message) {
  if (g_level >= Level::Info) emit("osor: ", message);
}

}  // namespace osor::log
