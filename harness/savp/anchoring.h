// SAVP stage 4, semantic anchoring (spec §6): detector boxes for the instruction on I_obj, matched
// against the candidate difference boxes. The detector itself is external (a detections file or a
// command); this file holds the selection of its boxes and the matching rules.
#pragma once

#include <string>
#include <vector>

#include "harness/savp/config.h"
#include "harness/savp/difference.h"

namespace osor::harness::savp {

struct Detection {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0, score = 0;  // pixels of I_obj, as the detector wrote them
};

struct ScoredBox {
  Box box;
  double score = 0;
};

// Coordinates truncated to int (Python's int()), sorted by score descending (stable), the first
// k_sem kept; score >= tau_score filters first only when apply_score_threshold is set (the official
// code never filters, spec §0.3).
std::vector<ScoredBox> select_detections(const std::vector<Detection>& detections, const SavpConfig& config);

// inter / union of integer boxes (exclusive ends), 0 when the union is empty.
double box_iou(const Box& a, const Box& b);
// Area of the intersection, 0 unless positive in both axes.
long long intersection_area(const Box& a, const Box& b);

struct Validation {
  std::string reason;            // "" when kept; else no_semantic_targets | scale_overflow_aligned |
                                 // background_collapse | no_valid_regions
  std::vector<Box> kept;         // the validated DIFFERENCE boxes (not the detector's)
  std::vector<int> matched;      // per kept box: index into the semantic boxes it aligned with
};

// validate_diff_with_semantic: candidates in descending pixel area; each takes the semantic box of
// highest IoU (strict '>', so ties keep the higher score). Aligned (IoU >= tau_iou): kept, unless its
// box is more than tau_scale × the semantic box's area (scale_overflow_aligned). Not aligned but
// overlapping a semantic box it is more than tau_scale × larger than: background_collapse. The first
// rejection ends the loop; otherwise the candidate is dropped silently.
Validation validate_candidates(const std::vector<Component>& candidates, const std::vector<ScoredBox>& semantic,
                               const SavpConfig& config);

}  // namespace osor::harness::savp
