#include "harness/file_pairs.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "harness/error.h"

namespace fs = std::filesystem;

namespace osor::harness {
namespace {

bool has_image_extension(const fs::path& p) {
  static const std::array<const char*, 9> known = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(known.begin(), known.end(), ext) != known.end();
}

std::map<std::string, fs::path> images_by_stem(const fs::path& folder) {
  std::map<std::string, fs::path> by_stem;
  for (const fs::path& p : list_images(folder)) by_stem.emplace(p.stem().string(), p);
  return by_stem;
}

std::string join_first(const std::vector<std::string>& names, size_t limit = 5) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

}  // namespace

std::vector<fs::path> list_images(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw HarnessError(folder.string() + ": folder not found");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const fs::path& p = entry.path();
    if (!entry.is_regular_file(ec) || p.filename().string().rfind('.', 0) == 0 || !has_image_extension(p)) continue;
    files.push_back(p);
  }
  if (ec) throw HarnessError(folder.string() + ": cannot list folder: " + ec.message());
  std::sort(files.begin(), files.end());
  for (size_t i = 1; i < files.size(); ++i)
    if (files[i].stem() == files[i - 1].stem())
      throw HarnessError(folder.string() + ": two images share the stem '" + files[i].stem().string() + "' (" +
                         files[i - 1].filename().string() + ", " + files[i].filename().string() + ")");
  return files;
}

std::vector<ImagePair> pair_files(const fs::path& pred, const fs::path& ref, const std::optional<fs::path>& mask) {
  std::error_code ec;
  if (!fs::exists(pred, ec)) throw HarnessError(pred.string() + ": file not found");
  if (!fs::exists(ref, ec)) throw HarnessError(ref.string() + ": file not found");
  if (mask && !fs::exists(*mask, ec)) throw HarnessError(mask->string() + ": file not found");
  const bool pred_dir = fs::is_directory(pred), ref_dir = fs::is_directory(ref);
  if (pred_dir != ref_dir)
    throw HarnessError("--pred " + pred.string() + " and --ref " + ref.string() + " must both be files or both folders");
  if (!pred_dir) {
    if (mask && fs::is_directory(*mask))
      throw HarnessError("--mask " + mask->string() + " is a folder but --pred/--ref are single files");
    return {{pred.stem().string(), pred, ref, mask ? *mask : fs::path()}};
  }
  const auto preds = images_by_stem(pred), refs = images_by_stem(ref);
  std::map<std::string, fs::path> masks;
  const bool mask_dir = mask && fs::is_directory(*mask);
  if (mask_dir) masks = images_by_stem(*mask);
  std::vector<std::string> no_pred, no_ref, no_mask;
  for (const auto& [stem, path] : refs)
    if (!preds.count(stem)) no_pred.push_back(stem);
  for (const auto& [stem, path] : preds)
    if (!refs.count(stem)) no_ref.push_back(stem);
  if (!no_pred.empty())
    throw HarnessError(pred.string() + ": no prediction for reference image(s) " + join_first(no_pred));
  if (!no_ref.empty()) throw HarnessError(ref.string() + ": no reference for prediction(s) " + join_first(no_ref));
  if (refs.empty()) throw HarnessError(ref.string() + ": folder holds no images");
  std::vector<ImagePair> pairs;
  for (const auto& [stem, ref_path] : refs) {
    ImagePair pair{stem, preds.at(stem), ref_path, {}};
    if (mask_dir) {
      const auto it = masks.find(stem);
      if (it == masks.end()) no_mask.push_back(stem); else pair.mask = it->second;
    } else if (mask) {
      pair.mask = *mask;
    }
    pairs.push_back(pair);
  }
  if (!no_mask.empty()) throw HarnessError(mask->string() + ": no mask for image(s) " + join_first(no_mask));
  return pairs;
}

}  // namespace osor::harness
