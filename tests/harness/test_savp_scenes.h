// Constructed SAVP scenes with known answers, shared by the SAVP tests: a textured background, a
// pasted object with a synthetic cast shadow, scattered blobs, a uniform colour shift.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <map>
#include <string>
#include <vector>

#include "harness/savp/pipeline.h"

namespace osor::test::savp {

// Smooth colour gradient with a deterministic fine texture (the same in both images of a pair).
inline cv::Mat background(int h = 256, int w = 256, unsigned seed = 7) {
  cv::Mat bg(h, w, CV_8UC3);
  cv::RNG rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int n = rng.uniform(-6, 7);
      bg.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(90 + x / 4 + n), cv::saturate_cast<uchar>(140 + n),
                                         cv::saturate_cast<uchar>(120 + y / 5 + n));
    }
  return bg;
}

inline cv::Mat rect_mask(cv::Size size, const cv::Rect& r) {
  cv::Mat m = cv::Mat::zeros(size, CV_8U);
  m(r).setTo(1);
  return m;
}

// A red textured object pasted at `object`, and a shadow (the background darkened to `shadow_gain`)
// at `shadow`, outside the object.
struct ShadowScene {
  cv::Mat with_object, without_object;
  cv::Mat object_mask, shadow_mask;
  cv::Rect object, shadow;
};

inline ShadowScene shadow_scene(cv::Rect object = {80, 60, 60, 60}, cv::Rect shadow = {80, 120, 70, 35},
                                double shadow_gain = 0.45) {
  ShadowScene s;
  s.object = object;
  s.shadow = shadow;
  s.without_object = background();
  s.with_object = s.without_object.clone();
  cv::Mat darker;
  s.with_object(shadow).convertTo(darker, -1, shadow_gain);
  darker.copyTo(s.with_object(shadow));
  cv::RNG rng(11);
  for (int y = object.y; y < object.y + object.height; ++y)
    for (int x = object.x; x < object.x + object.width; ++x)
      s.with_object.at<cv::Vec3b>(y, x) = cv::Vec3b(30 + rng.uniform(0, 20), 40 + rng.uniform(0, 20), 200 + rng.uniform(0, 40));
  s.object_mask = rect_mask(s.with_object.size(), object);
  s.shadow_mask = rect_mask(s.with_object.size(), shadow);
  s.shadow_mask.setTo(0, s.object_mask);
  return s;
}

// A detector answering fixed boxes, and a segmenter answering a fixed mask per prompt box (or one mask
// for every box): stand-ins for GroundingDINO and SAM2 with known outputs.
struct FixedDetector : harness::savp::Detector {
  std::vector<harness::savp::Detection> boxes;
  std::vector<harness::savp::Detection> detect(const harness::savp::Triplet&, const cv::Mat&) override { return boxes; }
};

struct FixedSegmenter : harness::savp::Segmenter {
  cv::Mat mask;                       // answer for every box
  std::vector<harness::savp::Box> prompts;  // the boxes it was asked for
  cv::Mat segment(const harness::savp::Triplet&, const cv::Mat&, const harness::savp::Box& box) override {
    prompts.push_back(box);
    return mask.clone();
  }
};

// The mask pixels inside `box` only: a segmenter that returns the object found in the prompt box.
struct BoxClippedSegmenter : harness::savp::Segmenter {
  cv::Mat objects;
  cv::Mat segment(const harness::savp::Triplet&, const cv::Mat&, const harness::savp::Box& b) override {
    cv::Mat out = cv::Mat::zeros(objects.size(), CV_8U);
    const cv::Rect r = cv::Rect(b.x1, b.y1, b.x2 - b.x1 + 1, b.y2 - b.y1 + 1) & cv::Rect(0, 0, objects.cols, objects.rows);
    objects(r).copyTo(out(r));
    return out;
  }
};

inline harness::savp::Detection det(const cv::Rect& r, double score) {
  return {double(r.x), double(r.y), double(r.x + r.width), double(r.y + r.height), score};
}

inline double iou(const cv::Mat& a, const cv::Mat& b) {
  const double inter = cv::countNonZero((a > 0) & (b > 0)), uni = cv::countNonZero((a > 0) | (b > 0));
  return uni > 0 ? inter / uni : 1.0;
}

}  // namespace osor::test::savp
