// Diagnostics on stderr shared by every layer: warnings that must not be lost in a batch run
// (mask resized to the image, too few samples for a covariance, ...) and informational lines.
#pragma once

#include <string>

namespace osor::log {

enum class Level { Quiet, Warning, Info };

void set_level(Level level);
Level level();

void warn(const std::string& message);
void info(const std::string& message);

}  // namespace osor::log
