// One SAVP verification of an ordered pair (I_obj, I_bg): difference → cleaning → global audit →
// semantic anchoring → effect-aware mask → effect decomposition. The open-vocabulary detector and
// the promptable segmenter are interfaces; files and external commands implement them.
#pragma once

#include <opencv2/core.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/savp/anchoring.h"
#include "harness/savp/config.h"
#include "harness/savp/difference.h"
#include "harness/savp/effect_mask.h"
#include "harness/savp/triplets.h"

namespace osor::harness::savp {

// Boxes with scores for the instruction on I_obj (GroundingDINO's role).
class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::vector<Detection> detect(const Triplet& triplet, const cv::Mat& object_bgr) = 0;
};

// A binary mask {0,1} of I_obj's size for one box prompt (SAM2's role). `box` is exclusive-end for the
// validated difference boxes; for the object core it is the inclusive box separate_shadows.py sends.
class Segmenter {
 public:
  virtual ~Segmenter() = default;
  virtual cv::Mat segment(const Triplet& triplet, const cv::Mat& object_bgr, const Box& box) = 0;
};

// detections.jsonl, already read. An id with no line is an error naming the file.
class DetectionsFile : public Detector {
 public:
  DetectionsFile(std::filesystem::path path, std::map<std::string, std::vector<Detection>> detections)
      : path_(std::move(path)), detections_(std::move(detections)) {}
  std::vector<Detection> detect(const Triplet& triplet, const cv::Mat& object_bgr) override;

 private:
  std::filesystem::path path_;
  std::map<std::string, std::vector<Detection>> detections_;
};

// --object-masks DIR: <id>.<ext> (white = object) is the segmenter's answer for every box of that id.
class MaskFolderSegmenter : public Segmenter {
 public:
  explicit MaskFolderSegmenter(std::filesystem::path dir) : dir_(std::move(dir)) {}
  cv::Mat segment(const Triplet& triplet, const cv::Mat& object_bgr, const Box& box) override;

 private:
  std::filesystem::path dir_;
};

// External detector: argv with {image} (I_obj file), {prompt}, {id} substituted; stdout is
// {"boxes": [[x0, y0, x1, y1, score], ...]} (or the bare array).
class CommandDetector : public Detector {
 public:
  CommandDetector(std::vector<std::string> argv, double timeout_s) : argv_(std::move(argv)), timeout_s_(timeout_s) {}
  std::vector<Detection> detect(const Triplet& triplet, const cv::Mat& object_bgr) override;

 private:
  std::vector<std::string> argv_;
  double timeout_s_;
};

// External segmenter: argv with {image}, {prompt}, {id}, {box} ("x1,y1,x2,y2"), {x1} {y1} {x2} {y2}
// and {out} (a PNG path the program writes: white = object) substituted; one call per box.
class CommandSegmenter : public Segmenter {
 public:
  CommandSegmenter(std::vector<std::string> argv, double timeout_s, std::filesystem::path scratch)
      : argv_(std::move(argv)), timeout_s_(timeout_s), scratch_(std::move(scratch)) {}
  cv::Mat segment(const Triplet& triplet, const cv::Mat& object_bgr, const Box& box) override;

 private:
  std::vector<std::string> argv_;
  double timeout_s_;
  std::filesystem::path scratch_;
};

// 8-bit BGR, as cv2.imread(path) (alpha dropped, 16-bit scaled down); errors name the file.
cv::Mat read_bgr(const std::filesystem::path& path);
// {0,1} mask, object where > 127; must have the given size. Errors name the file.
cv::Mat read_binary_mask(const std::filesystem::path& path, cv::Size expected);

struct PairResult {
  bool kept = false;
  std::string stage;   // where it stopped: input | difference | anchoring | segmentation ("" when kept)
  std::string reason;  // the official code's reason string (diff_quality_high_noise, background_collapse, ...)
  std::string message; // details for "error"
  // Intermediate results, filled as far as the pair got.
  cv::Mat heat, raw, cleaned;
  std::vector<Component> components, candidates;
  std::vector<ScoredBox> semantic;
  Validation validation;
  cv::Mat filtered, fused;  // fused = OR(object masks per kept box) ∨ filtered difference
  cv::Mat effect_mask;      // m_gt: fused, dilated by r_dilate
  cv::Mat object_core;      // m_obj from the core box around m_gt
  EffectSplit effects;
};

PairResult verify_pair(const Triplet& triplet, const cv::Mat& object_bgr, const cv::Mat& background_bgr,
                       Detector& detector, Segmenter& segmenter, const SavpConfig& config);

}  // namespace osor::harness::savp
