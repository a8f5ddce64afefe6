#include "reports/thumbnails.h"

#include <filesystem>

namespace osor::reports {

std::string output_thumbnail(const std::string& output) {
  const std::filesystem::path path(output);
  if (path.is_absolute() || path.empty() || *path.begin() != "outputs") return "";
  return (std::filesystem::path("thumbs") / path).replace_extension(".jpg").generic_string();
}

std::string sample_thumbnail(const std::string& bench, const std::string& role, const std::string& id) {
  return (std::filesystem::path("thumbs") / bench / role / (id + ".jpg")).generic_string();
}

}  // namespace osor::reports
