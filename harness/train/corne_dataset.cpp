#include "harness/train/corne_dataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>

#include "harness/error.h"
#include "harness/image_io.h"
#include "metrics/resize.h"

namespace osor::harness::train {
namespace fs = std::filesystem;

namespace {

int64_t ceil16(int64_t v) { return (v + 15) / 16 * 16; }

struct ListNames {
  const char *shot, *bg, *mask, *sam;
};
// configs/phase{1,2}.yaml data.params; savp writes the same names (harness/savp/dataset.h).
ListNames list_names(int phase) {
  if (phase == 2) return {"shot_m_list.txt", "bg_m_list.txt", "mask-check_m_list.txt", "mask_sam_list.txt"};
  return {"shot_list.txt", "bg_list.txt", "mask_list.txt", "mask_sam_list.txt"};
}

// dataset.py _load_file_list: stripped lines, empty lines skipped, relative paths under the data root.
std::vector<fs::path> read_list(const fs::path& root, const fs::path& list) {
  std::ifstream in(list);
  if (!in) throw HarnessError("CORNE list " + list.string() + ": cannot be read");
  std::vector<fs::path> paths;
  std::string line;
  while (std::getline(in, line)) {
    const auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    const fs::path p = line.substr(b, line.find_last_not_of(" \t\r\n") - b + 1);
    paths.push_back(p.is_absolute() ? p : root / p);
  }
  return paths;
}

// The size a file's header declares; a full decode for the formats image_header does not parse.
std::pair<int64_t, int64_t> file_size_hw(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HarnessError("CORNE sample file " + path.string() + ": missing or unreadable");
  std::vector<unsigned char> head(1 << 18);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (const auto size = declared_image_size(head))
    return {static_cast<int64_t>(size->height), static_cast<int64_t>(size->width)};
  const at::Tensor image = read_image(path).rgb;
  return {image.size(2), image.size(3)};
}

void check_same_size(const CorneSample& s, const fs::path& part) {
  if (part.empty()) return;
  const auto [h, w] = file_size_hw(part);
  if (h != s.height || w != s.width)
    throw HarnessError("CORNE sample " + s.stem + ": " + part.string() + " is " + std::to_string(w) + "x" +
                       std::to_string(h) + ", its shot " + s.shot.string() + " is " + std::to_string(s.width) + "x" +
                       std::to_string(s.height));
}

std::vector<CorneSample> samples_from_lists(const fs::path& root, const ListNames& names, bool with_sam) {
  const auto shots = read_list(root, root / names.shot), bgs = read_list(root, root / names.bg),
             masks = read_list(root, root / names.mask);
  std::vector<fs::path> sams;
  if (with_sam) sams = read_list(root, root / names.sam);
  if (bgs.size() != shots.size() || masks.size() != shots.size() || (with_sam && sams.size() != shots.size()))
    throw HarnessError("CORNE lists under " + root.string() + ": " + names.shot + ", " + names.bg + ", " + names.mask +
                       (with_sam ? std::string(", ") + names.sam : "") + " have different lengths");
  std::vector<CorneSample> out(shots.size());
  for (size_t i = 0; i < shots.size(); ++i)
    out[i] = {shots[i].stem().string(), shots[i], bgs[i], masks[i], with_sam ? sams[i] : fs::path(), 0, 0};
  return out;
}

// stem → file of one folder; two files of one stem are an error (which one is meant?).
std::map<std::string, fs::path> files_by_stem(const fs::path& dir) {
  std::map<std::string, fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename().string().rfind('.', 0) == 0) continue;
    const auto [it, added] = out.emplace(entry.path().stem().string(), entry.path());
    if (!added)
      throw HarnessError("CORNE folder " + dir.string() + ": two files for stem " + it->first + " (" +
                         it->second.filename().string() + ", " + entry.path().filename().string() + ")");
  }
  return out;
}

fs::path first_folder(const fs::path& root, std::initializer_list<const char*> names, const std::string& what) {
  for (const char* n : names)
    if (fs::is_directory(root / n)) return root / n;
  std::string list;
  for (const char* n : names) list += (list.empty() ? "" : ", ") + std::string(n) + "/";
  throw HarnessError("CORNE folder " + root.string() + ": no " + what + " folder (looked for " + list + ")");
}

fs::path part_of(const std::map<std::string, fs::path>& files, const fs::path& dir, const std::string& stem) {
  const auto it = files.find(stem);
  if (it == files.end())
    throw HarnessError("CORNE folder " + dir.string() + ": no file for sample " + stem + " (it has a shot)");
  return it->second;
}

std::vector<CorneSample> samples_from_folders(const fs::path& root, const CorneLayoutOptions& o) {
  const fs::path shot_dir = first_folder(root, {"shot", "input"}, "shot");
  const fs::path bg_dir = first_folder(root, {"bg", "gt"}, "background");
  const fs::path mask_dir = o.mask_folder.empty()
                                ? first_folder(root, {"mask_eff", "mask_effect", "mask", "mask_sam"}, "mask")
                                : first_folder(root, {o.mask_folder.c_str()}, "mask");
  const fs::path sam_dir = o.with_sam ? first_folder(root, {"mask_sam"}, "SAM mask") : fs::path();
  const auto shots = files_by_stem(shot_dir), bgs = files_by_stem(bg_dir), masks = files_by_stem(mask_dir);
  std::map<std::string, fs::path> sams;
  if (o.with_sam) sams = files_by_stem(sam_dir);
  std::vector<CorneSample> out;
  for (const auto& [stem, shot] : shots) {
    CorneSample s{stem, shot, part_of(bgs, bg_dir, stem), part_of(masks, mask_dir, stem), {}, 0, 0};
    if (o.with_sam) s.mask_sam = part_of(sams, sam_dir, stem);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::pair<int64_t, int64_t> training_size(int64_t height, int64_t width, const ResizeOptions& o) {
  if (height < 1 || width < 1) throw HarnessError("training size of an empty image");
  switch (o.policy) {
    case ResizePolicy::Fixed:
      if (o.fixed_height < 1 || o.fixed_width < 1) throw HarnessError("fixed training size must be positive");
      return {o.fixed_height, o.fixed_width};
    case ResizePolicy::Flux:
      return {ceil16(height), ceil16(width)};
    case ResizePolicy::Sdxl:
      break;
  }
  // dataset.py _calculate_target_size, in the same double arithmetic as Python's float and int() truncation.
  const int64_t target = o.short_side, min_dim = std::min(width, height);
  int64_t w, h;
  if (min_dim < target) {
    const double scale = static_cast<double>(target) / static_cast<double>(min_dim);
    w = static_cast<int64_t>(static_cast<double>(width) * scale);
    h = static_cast<int64_t>(static_cast<double>(height) * scale);
  } else if (width < height) {
    w = target;
    h = static_cast<int64_t>(static_cast<double>(height * target) / static_cast<double>(width));
  } else {
    h = target;
    w = static_cast<int64_t>(static_cast<double>(width * target) / static_cast<double>(height));
  }
  return {ceil16(h), ceil16(w)};
}

std::vector<CorneSample> discover_corne(const fs::path& root, const CorneLayoutOptions& o) {
  if (!fs::is_directory(root)) throw HarnessError("CORNE folder " + root.string() + ": not a folder");
  const ListNames names = list_names(o.phase);
  const bool lists = o.use_lists && fs::is_regular_file(root / names.shot);
  std::vector<CorneSample> samples = lists ? samples_from_lists(root, names, o.with_sam) : samples_from_folders(root, o);
  if (samples.empty()) throw HarnessError("CORNE folder " + root.string() + ": no samples");
  for (CorneSample& s : samples) {
    std::tie(s.height, s.width) = file_size_hw(s.shot);
    check_same_size(s, s.bg);
    check_same_size(s, s.mask);
    check_same_size(s, s.mask_sam);
  }
  return samples;
}

namespace {

// [1,3,H,W] float in [0,1] from read_image → [3,H,W] uint8 (exact for 8-bit files).
at::Tensor rgb_u8(const fs::path& path) {
  return read_image(path).rgb[0].mul(255.0).round_().clamp_(0, 255).to(at::kByte);
}

// Pillow's convert('L') of RGB: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (ITU-R 601-2, fixed point).
at::Tensor luma_u8(const at::Tensor& rgb) {
  const at::Tensor c = rgb.to(at::kLong);
  return (c[0] * 19595 + c[1] * 38470 + c[2] * 7471 + 32768).div(65536, "floor").to(at::kByte).unsqueeze(0);
}

at::Tensor image_at(const fs::path& path, int64_t h, int64_t w) {
  at::Tensor u8 = rgb_u8(path);
  if (u8.size(1) != h || u8.size(2) != w) u8 = metrics::pil_resize_u8(u8, h, w, metrics::PilFilter::Lanczos);
  return u8.to(at::kFloat).div_(255.0);
}

at::Tensor mask_at(const fs::path& path, int64_t h, int64_t w) {
  at::Tensor u8 = luma_u8(rgb_u8(path));
  if (u8.size(1) != h || u8.size(2) != w) u8 = metrics::pil_resize_nearest_u8(u8, h, w);
  return u8.to(at::kFloat).div_(255.0);
}

}  // namespace

LoadedSample load_corne_sample(const CorneSample& s, const ResizeOptions& options) {
  const auto [h, w] = training_size(s.height, s.width, options);
  LoadedSample out;
  out.shot = image_at(s.shot, h, w);
  out.bg = image_at(s.bg, h, w);
  out.mask = mask_at(s.mask, h, w);
  if (!s.mask_sam.empty()) out.mask_sam = mask_at(s.mask_sam, h, w);
  return out;
}

}  // namespace osor::harness::train
