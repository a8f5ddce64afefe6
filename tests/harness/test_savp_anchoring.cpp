// SAVP semantic anchoring (spec §6): detector box selection and the matching rules.
#include <doctest/doctest.h>

#include "harness/savp/anchoring.h"

using namespace osor::harness::savp;

namespace {

Component candidate(Box b, long long area = -1) {
  Component c;
  c.box = b;
  c.area = area < 0 ? b.area() : area;
  return c;
}

ScoredBox sem(Box b, double score = 0.5) { return {b, score}; }

}  // namespace

TEST_CASE("savp detections: truncated to int, sorted by score, top-3, no score filter unless asked") {
  SavpConfig config;
  const std::vector<Detection> d = {{10.9, 20.2, 30.7, 40.99, 0.10},
                                    {1, 2, 3, 4, 0.90},
                                    {5, 5, 9, 9, 0.05},
                                    {7, 7, 8, 8, 0.50},
                                    {-0.5, 0, 2, 2, 0.20}};
  auto s = select_detections(d, config);
  REQUIRE(s.size() == 3);
  CHECK(s[0].score == 0.90);
  CHECK(s[1].score == 0.50);
  CHECK(s[2].score == 0.20);
  CHECK(s[2].box == Box{0, 0, 2, 2});  // int(-0.5) = 0: truncation toward zero
  config.k_sem = 5;
  s = select_detections(d, config);
  CHECK(s[3].box == Box{10, 20, 30, 40});
  config.apply_score_threshold = true;  // tau_score = 0.3 actually applied
  s = select_detections(d, config);
  REQUIRE(s.size() == 2);
  CHECK(s[1].score == 0.50);
}

TEST_CASE("savp box IoU on integer exclusive boxes") {
  CHECK(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}) == 1.0);
  CHECK(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}) == doctest::Approx(50.0 / 150.0));
  CHECK(box_iou({0, 0, 10, 10}, {10, 0, 20, 10}) == 0.0);  // touching edges do not intersect
  CHECK(box_iou({3, 3, 3, 3}, {3, 3, 3, 3}) == 0.0);        // empty union
  CHECK(intersection_area({0, 0, 10, 10}, {2, 3, 20, 5}) == 16);
}

TEST_CASE("savp matching keeps the difference box of an aligned candidate") {
  const SavpConfig config;
  const auto v = validate_candidates({candidate({10, 10, 50, 50})}, {sem({12, 12, 48, 52}, 0.4)}, config);
  CHECK(v.reason == "");
  REQUIRE(v.kept.size() == 1);
  CHECK(v.kept[0] == Box{10, 10, 50, 50});  // the DIFF box, not the detector's
}

TEST_CASE("savp collapse rule: a candidate far larger than the semantic box it overlaps discards the pair") {
  const SavpConfig config;
  // 150x150 difference around a 30x30 detection: IoU 0.04 < 0.3, box ratio 25 > 2.
  auto v = validate_candidates({candidate({50, 50, 200, 200})}, {sem({100, 100, 130, 130})}, config);
  CHECK(v.reason == "background_collapse");
  CHECK(v.kept.empty());
  // Aligned but more than 2x the semantic box: 100x100 vs 65x65 (IoU 0.42, ratio 2.37).
  v = validate_candidates({candidate({0, 0, 100, 100})}, {sem({10, 10, 75, 75})}, config);
  CHECK(v.reason == "scale_overflow_aligned");
  // Exactly 2x is allowed (strict '>'): 100x100 vs 100x50.
  v = validate_candidates({candidate({0, 0, 100, 100})}, {sem({0, 0, 100, 50})}, config);
  CHECK(v.reason == "");
  // The first rejection ends the loop even when a later candidate would align.
  v = validate_candidates({candidate({0, 0, 200, 200}), candidate({300, 300, 340, 340})},
                          {sem({10, 10, 40, 40}), sem({300, 300, 340, 340})}, config);
  CHECK(v.reason == "background_collapse");
}

TEST_CASE("savp matching drops unaligned small or non-overlapping candidates silently") {
  const SavpConfig config;
  // Second candidate: no overlap at all → dropped; third: overlaps, IoU < 0.3, not 2x larger → dropped.
  const auto v = validate_candidates(
      {candidate({0, 0, 60, 60}), candidate({200, 200, 250, 250}), candidate({55, 0, 95, 40})},
      {sem({5, 5, 60, 60}, 0.9)}, config);
  CHECK(v.reason == "");
  REQUIRE(v.kept.size() == 1);
  CHECK(v.kept[0] == Box{0, 0, 60, 60});
  CHECK(validate_candidates({candidate({200, 200, 250, 250})}, {sem({5, 5, 60, 60})}, config).reason ==
        "no_valid_regions");
  CHECK(validate_candidates({candidate({0, 0, 10, 10})}, {}, config).reason == "no_semantic_targets");
}

TEST_CASE("savp matching ties keep the higher-score semantic box (strict '>')") {
  const SavpConfig config;
  const auto v = validate_candidates({candidate({0, 0, 40, 40})}, {sem({0, 0, 40, 30}, 0.9), sem({0, 10, 40, 40}, 0.5)},
                                     config);
  REQUIRE(v.matched.size() == 1);
  CHECK(v.matched[0] == 0);
}
