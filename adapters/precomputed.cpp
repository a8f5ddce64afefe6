#include "adapters/precomputed.h"

#include <ATen/ATen.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "adapters/error.h"
#include "adapters/mat_tensor.h"

namespace fs = std::filesystem;

namespace osor::adapters {
namespace {

int interpolation(const std::string& filter) {
  if (filter == "cubic") return cv::INTER_CUBIC;
  if (filter == "linear") return cv::INTER_LINEAR;
  if (filter == "area") return cv::INTER_AREA;
  if (filter == "lanczos") return cv::INTER_LANCZOS4;
  if (filter == "nearest") return cv::INTER_NEAREST_EXACT;
  throw AdapterError("method precomputed: unknown filter '" + filter + "' (cubic, linear, area, lanczos, nearest)");
}

std::string replace_all(std::string s, const std::string& key, const std::string& value) {
  for (size_t pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + value.size())) s.replace(pos, key.size(), value);
  return s;
}

}  // namespace

PrecomputedRemover::PrecomputedRemover(const MethodSpec& spec) {
  for (const auto& [key, value] : spec.options)
    if (key != "dir" && key != "filter")
      throw AdapterError("method precomputed: unknown option '" + key + "' (options: dir, filter; and name=LABEL)");
  dir_ = option_text(spec, "dir", "");
  if (dir_.empty()) throw AdapterError("method precomputed needs dir=PATH (a folder of outputs named by sample id)");
  filter_ = option_text(spec, "filter", "cubic");
  interpolation(filter_);
}

std::string PrecomputedRemover::id() const { return "precomputed:dir=" + dir_ + ",filter=" + filter_; }

RemovalOutput PrecomputedRemover::remove(const RemovalInput& input) {
  const fs::path dir = replace_all(replace_all(dir_, "{bench}", input.bench), "{masks}", input.masks);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw AdapterError("precomputed: folder " + dir.string() + " not found");
  fs::path found;
  for (const char* ext : {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".PNG", ".JPG"}) {
    const fs::path candidate = dir / (input.id + ext);
    if (fs::exists(candidate, ec)) {
      found = candidate;
      break;
    }
  }
  if (found.empty()) throw AdapterError("precomputed: no output for sample " + input.id + " in " + dir.string());
  cv::Mat bgr;
  try {
    bgr = read_output_bgr8(found);
  } catch (const AdapterError& e) {
    throw AdapterError(std::string("precomputed: ") + e.what());
  }
  const int h = static_cast<int>(input.image.size(2)), w = static_cast<int>(input.image.size(3));
  RemovalOutput out;
  if (bgr.rows != h || bgr.cols != w) {
    cv::Mat resized;
    cv::resize(bgr, resized, cv::Size(w, h), 0, 0, interpolation(filter_));
    bgr = resized;
  } else {
    out.source_file = found;  // the file as it is: the harness links it instead of encoding it again
  }
  out.image = bgr8_to_tensor(bgr);
  return out;
}

}  // namespace osor::adapters
