#include "harness/savp/effect_mask.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "harness/savp/anchoring.h"

namespace osor::harness::savp {

cv::Mat filtered_difference(const cv::Mat& cleaned, const std::vector<Box>& kept, const SavpConfig& config) {
  cv::Mat labels;
  std::vector<Component> comps = components_by_area(cleaned, &labels);
  std::vector<unsigned char> keep(comps.size() + 1, 0);
  for (const Component& c : comps)
    for (const Box& k : kept)
      if (static_cast<double>(intersection_area(c.box, k)) / static_cast<double>(c.area) > config.tau_keep) {
        keep[c.label] = 1;
        break;
      }
  cv::Mat out = cv::Mat::zeros(cleaned.size(), CV_8U);
  for (int y = 0; y < out.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    unsigned char* o = out.ptr<unsigned char>(y);
    for (int x = 0; x < out.cols; ++x) o[x] = keep[l[x]];
  }
  return out;
}

cv::Mat fuse(const std::vector<cv::Mat>& object_masks, const cv::Mat& filtered_diff) {
  cv::Mat out = (filtered_diff > 0) / 255;
  for (const cv::Mat& m : object_masks) {
    CV_Assert(m.size() == out.size());
    cv::bitwise_or(out, (m > 0) / 255, out);
  }
  return out;
}

cv::Mat expand_mask(const cv::Mat& mask, double ratio) {
  cv::Mat m = (mask > 0) / 255;
  const long long area = cv::countNonZero(m);
  if (ratio <= 1.0 || area == 0) return m;
  const long long k = static_cast<long long>(static_cast<double>(area) * ratio) - area;
  const long long n_bg = static_cast<long long>(m.total()) - area;
  if (k <= 0) return m;
  if (k >= n_bg) return cv::Mat::ones(m.size(), CV_8U);
  cv::Mat dist;
  cv::distanceTransform(m == 0, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE, CV_32F);  // bg → nearest fg
  std::vector<float> bg;
  bg.reserve(static_cast<size_t>(n_bg));
  for (int y = 0; y < m.rows; ++y) {
    const unsigned char* p = m.ptr<unsigned char>(y);
    const float* d = dist.ptr<float>(y);
    for (int x = 0; x < m.cols; ++x)
      if (!p[x]) bg.push_back(d[x]);
  }
  std::nth_element(bg.begin(), bg.begin() + (k - 1), bg.end());
  const float thr = bg[static_cast<size_t>(k - 1)];
  cv::Mat out = m.clone();
  for (int y = 0; y < m.rows; ++y) {
    const float* d = dist.ptr<float>(y);
    unsigned char* o = out.ptr<unsigned char>(y);
    for (int x = 0; x < m.cols; ++x)
      if (!o[x] && d[x] <= thr) o[x] = 1;
  }
  return out;
}

Box inclusive_mask_box(const cv::Mat& mask) {
  std::vector<cv::Point> pts;
  cv::findNonZero(mask > 0, pts);
  if (pts.empty()) return {};
  const cv::Rect r = cv::boundingRect(pts);
  return {r.x, r.y, r.x + r.width - 1, r.y + r.height - 1};
}

EffectSplit split_effects(const cv::Mat& effect_mask, const cv::Mat& object_core, const SavpConfig& config) {
  EffectSplit s;
  s.expanded_core = expand_mask(object_core, config.r_dilate);
  cv::Mat rest = (effect_mask > 0) / 255;
  rest.setTo(0, s.expanded_core);
  s.residual = clean_mask(rest, config);
  const int core = cv::countNonZero(s.expanded_core);
  s.effects_ratio = core > 0 ? static_cast<double>(cv::countNonZero(s.residual)) / core : 0.0;
  s.phase2 = s.effects_ratio > config.tau_eff;
  return s;
}

}  // namespace osor::harness::savp
