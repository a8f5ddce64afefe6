// Pairs prediction, reference and (optional) mask files for the commands that take files or folders.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace osor::harness {

struct ImagePair {
  std::string stem;
  std::filesystem::path pred, ref, mask;  // mask empty when none was given
};

// The image files of a folder (regular, not hidden, with an image extension), sorted, keyed by stem.
// Throws HarnessError if the folder is missing or two files share a stem.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder);

// pred and ref are both files (one pair, stem of pred) or both folders (paired by file stem; every
// reference needs a prediction and vice versa). mask may be a file (used for every pair) or a folder
// (paired by stem). Throws HarnessError naming the missing stems.
std::vector<ImagePair> pair_files(const std::filesystem::path& pred, const std::filesystem::path& ref,
                                  const std::optional<std::filesystem::path>& mask);

}  // namespace osor::harness
