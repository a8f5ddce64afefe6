#include "harness/savp/anchoring.h"

#include <algorithm>
#include <cmath>

namespace osor::harness::savp {

std::vector<ScoredBox> select_detections(const std::vector<Detection>& detections, const SavpConfig& config) {
  std::vector<ScoredBox> boxes;
  for (const Detection& d : detections) {
    if (config.apply_score_threshold && d.score < config.tau_score) continue;
    ScoredBox s;
    s.box = {static_cast<int>(std::trunc(d.x1)), static_cast<int>(std::trunc(d.y1)), static_cast<int>(std::trunc(d.x2)),
             static_cast<int>(std::trunc(d.y2))};
    s.score = d.score;
    boxes.push_back(s);
  }
  std::stable_sort(boxes.begin(), boxes.end(), [](const ScoredBox& a, const ScoredBox& b) { return a.score > b.score; });
  if (static_cast<int>(boxes.size()) > config.k_sem) boxes.resize(config.k_sem);
  return boxes;
}

long long intersection_area(const Box& a, const Box& b) {
  const long long w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const long long h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

double box_iou(const Box& a, const Box& b) {
  const long long inter = intersection_area(a, b);
  const long long uni = a.area() + b.area() - inter;
  return uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
}

Validation validate_candidates(const std::vector<Component>& candidates, const std::vector<ScoredBox>& semantic,
                               const SavpConfig& config) {
  Validation v;
  if (semantic.empty()) {
    v.reason = "no_semantic_targets";
    return v;
  }
  for (const Component& c : candidates) {
    double best_iou = 0.0;
    int best = -1;
    for (size_t i = 0; i < semantic.size(); ++i) {
      const double iou = box_iou(c.box, semantic[i].box);
      if (iou > best_iou) best_iou = iou, best = static_cast<int>(i);
    }
    if (best < 0) continue;  // no overlap with any semantic box
    const double ratio = static_cast<double>(c.box.area()) /
                         static_cast<double>(std::max(semantic[best].box.area(), 1LL));
    if (best_iou >= config.tau_iou) {
      if (ratio > config.tau_scale) {
        v.reason = "scale_overflow_aligned";
        v.kept.clear();
        v.matched.clear();
        return v;
      }
      v.kept.push_back(c.box);
      v.matched.push_back(best);
    } else if (ratio > config.tau_scale) {
      v.reason = "background_collapse";
      v.kept.clear();
      v.matched.clear();
      return v;
    }
  }
  if (v.kept.empty()) v.reason = "no_valid_regions";
  return v;
}

}  // namespace osor::harness::savp
