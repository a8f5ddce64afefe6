#include "harness/savp/pipeline.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <unistd.h>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "harness/image_io.h"
#include "harness/file_pairs.h"
#include "adapters/subprocess.h"

namespace osor::harness::savp {
namespace fs = std::filesystem;
using adapters::CommandOutput;
using adapters::describe_failure;
using adapters::run_command;
using adapters::substitute;

namespace {

cv::Mat decode(const fs::path& path, int flags) {
  const std::vector<unsigned char> bytes = read_file_bytes(path);
  if (bytes.empty()) throw HarnessError(path.string() + ": empty file (0 bytes)");
  check_image_pixels(path, bytes);  // decompression-bomb guard (harness/image_io.h)
  cv::Mat mat;
  try {
    mat = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    throw HarnessError(path.string() + ": cannot decode image: " + e.what());
  }
  if (mat.empty()) throw HarnessError(path.string() + ": cannot decode image (not a PNG/JPEG/WebP file, or corrupt)");
  return mat;
}

std::string box_text(const Box& b) {
  return std::to_string(b.x1) + "," + std::to_string(b.y1) + "," + std::to_string(b.x2) + "," + std::to_string(b.y2);
}

}  // namespace

cv::Mat read_bgr(const fs::path& path) { return decode(path, cv::IMREAD_COLOR); }

cv::Mat read_binary_mask(const fs::path& path, cv::Size expected) {
  const cv::Mat gray = decode(path, cv::IMREAD_GRAYSCALE);
  if (gray.size() != expected)
    throw HarnessError(path.string() + ": mask is " + std::to_string(gray.cols) + "x" + std::to_string(gray.rows) +
                       ", image is " + std::to_string(expected.width) + "x" + std::to_string(expected.height));
  return (gray > 127) / 255;
}

std::vector<Detection> DetectionsFile::detect(const Triplet& triplet, const cv::Mat&) {
  const auto it = detections_.find(triplet.id);
  if (it == detections_.end()) throw HarnessError(path_.string() + ": no line for id '" + triplet.id + "'");
  return it->second;
}

cv::Mat MaskFolderSegmenter::segment(const Triplet& triplet, const cv::Mat& object_bgr, const Box&) {
  for (const char* ext : {".png", ".PNG", ".jpg", ".jpeg", ".JPG", ".JPEG", ".webp", ".bmp"}) {
    const fs::path p = dir_ / (triplet.id + ext);
    if (fs::exists(p)) return read_binary_mask(p, object_bgr.size());
  }
  throw HarnessError((dir_ / (triplet.id + ".png")).string() + ": file not found (object mask for id '" + triplet.id + "')");
}

std::vector<Detection> CommandDetector::detect(const Triplet& triplet, const cv::Mat&) {
  const auto argv = substitute(argv_, {{"image", triplet.object_image().string()},
                                       {"prompt", triplet.instruction},
                                       {"id", triplet.id}});
  const CommandOutput r = run_command(argv, timeout_s_);
  if (r.timed_out || r.exit_code != 0) throw HarnessError("detector for id '" + triplet.id + "': " + describe_failure(argv, r));
  if (r.out_dropped > 0)  // only the output's tail is kept (adapters/subprocess.h): not a whole JSON document
    throw HarnessError("detector output for id '" + triplet.id + "' is larger than " +
                       std::to_string(adapters::kCommandOutputKeep) + " bytes (" +
                       std::to_string(r.out.size() + r.out_dropped) + "); a detector prints its boxes as one JSON line");
  return parse_boxes(r.out, "detector output for id '" + triplet.id + "'");
}

cv::Mat CommandSegmenter::segment(const Triplet& triplet, const cv::Mat& object_bgr, const Box& box) {
  static std::atomic<unsigned> counter{0};
  fs::create_directories(scratch_);
  const fs::path out = scratch_ / (triplet.id + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".png");
  const auto argv = substitute(argv_, {{"image", triplet.object_image().string()},
                                       {"prompt", triplet.instruction},
                                       {"id", triplet.id},
                                       {"box", box_text(box)},
                                       {"x1", std::to_string(box.x1)},
                                       {"y1", std::to_string(box.y1)},
                                       {"x2", std::to_string(box.x2)},
                                       {"y2", std::to_string(box.y2)},
                                       {"out", out.string()}});
  const CommandOutput r = run_command(argv, timeout_s_);
  if (r.timed_out || r.exit_code != 0) {
    fs::remove(out);
    throw HarnessError("segmenter for id '" + triplet.id + "': " + describe_failure(argv, r));
  }
  if (!fs::exists(out))
    throw HarnessError("segmenter for id '" + triplet.id + "': " + argv[0] + " exited 0 but wrote no mask to " + out.string());
  cv::Mat mask = read_binary_mask(out, object_bgr.size());
  fs::remove(out);
  return mask;
}

PairResult verify_pair(const Triplet& triplet, const cv::Mat& object_bgr, const cv::Mat& background_bgr,
                       Detector& detector, Segmenter& segmenter, const SavpConfig& config) {
  PairResult r;
  auto reject = [&r](const char* stage, std::string reason) {
    r.stage = stage;
    r.reason = std::move(reason);
    return r;
  };
  if (object_bgr.size() != background_bgr.size()) return reject("input", "shape_mismatch");

  // Difference heatmap, binarisation, cleaning, global audit (spec §3–§5).
  r.heat = difference_heatmap(background_bgr, object_bgr, config);
  r.raw = binarize(r.heat, config);
  r.cleaned = clean_mask(r.raw, config);
  r.components = components_by_area(r.cleaned);
  const std::string quality = audit(r.components, config);
  if (!quality.empty()) return reject("difference", "diff_quality_" + quality);
  r.candidates = main_components(r.components, config);

  // Semantic anchoring (§6).
  r.semantic = select_detections(detector.detect(triplet, object_bgr), config);
  r.validation = validate_candidates(r.candidates, r.semantic, config);
  if (!r.validation.reason.empty()) return reject("anchoring", r.validation.reason);

  // Effect-aware mask (§7).
  if (config.multibox == MultiboxMode::ReferenceQuirk && r.validation.kept.size() >= 2) {
    r.message = std::to_string(r.validation.kept.size()) +
                " validated boxes: the official code's SAM2 call returns an (N,1,H,W) stack and fails (multibox=reference_quirk)";
    return reject("segmentation", "error");
  }
  r.filtered = filtered_difference(r.cleaned, r.validation.kept, config);
  std::vector<cv::Mat> objects;
  for (const Box& b : r.validation.kept) objects.push_back(segmenter.segment(triplet, object_bgr, b));
  r.fused = fuse(objects, r.filtered);
  r.effect_mask = expand_mask(r.fused, config.r_dilate);

  // Effect decomposition (§8): a new segmenter call on the box around the whole effect mask.
  r.object_core = segmenter.segment(triplet, object_bgr, inclusive_mask_box(r.effect_mask));
  r.effects = split_effects(r.effect_mask, r.object_core, config);
  r.kept = true;
  return r;
}

}  // namespace osor::harness::savp
