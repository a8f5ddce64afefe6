// SAVP effect-aware mask (spec §7–§8): filtered difference, fusion, area-targeted dilation, effect
// residual and effects ratio.
#include <doctest/doctest.h>

#include "harness/savp/effect_mask.h"
#include "tests/harness/test_savp_scenes.h"

using namespace osor::harness::savp;
namespace scenes = osor::test::savp;

TEST_CASE("savp filtered difference keeps components overlapping a validated box by > 0.5 of their area") {
  const SavpConfig config;
  cv::Mat m = cv::Mat::zeros(200, 200, CV_8U);
  m(cv::Rect(10, 10, 80, 20)).setTo(1);    // L-shaped validated component, box (10,10)-(90,90)
  m(cv::Rect(10, 10, 20, 80)).setTo(1);
  m(cv::Rect(50, 50, 30, 30)).setTo(1);    // small component inside that box: kept (900/900)
  m(cv::Rect(80, 95, 40, 40)).setTo(1);    // box (80,95)-(120,135): no overlap → dropped
  m(cv::Rect(70, 70, 40, 40)).setTo(0);    // (keeps the two apart)
  m(cv::Rect(85, 40, 30, 10)).setTo(1);    // overlap 5x10 = 50 of 300 px: dropped
  m(cv::Rect(150, 150, 45, 45)).setTo(1);  // far away: dropped
  const cv::Mat f = filtered_difference(m, {Box{10, 10, 90, 90}}, config);
  CHECK(cv::countNonZero(f) == 2800 + cv::countNonZero(m(cv::Rect(50, 50, 30, 30))));
  CHECK(cv::countNonZero(f(cv::Rect(80, 95, 40, 40))) == 0);
  CHECK(cv::countNonZero(f(cv::Rect(85, 40, 30, 10))) == 0);
  CHECK(cv::countNonZero(f(cv::Rect(150, 150, 45, 45))) == 0);
  // The ratio's denominator is the pixel count, so a thin ring inside a box passes at ratio > 1.
  cv::Mat ring = cv::Mat::zeros(100, 100, CV_8U);
  cv::rectangle(ring, cv::Rect(20, 20, 40, 40), 1, 1);
  CHECK(cv::countNonZero(filtered_difference(ring, {Box{0, 0, 100, 100}}, config)) == cv::countNonZero(ring));
}

TEST_CASE("savp fusion is the OR of object masks and the filtered difference") {
  cv::Mat a = scenes::rect_mask({50, 50}, {0, 0, 10, 10}), b = scenes::rect_mask({50, 50}, {5, 5, 10, 10}),
          d = scenes::rect_mask({50, 50}, {30, 30, 5, 5});
  const cv::Mat f = fuse({a, b}, d);
  CHECK(cv::countNonZero(f) == 100 + 100 - 25 + 25);
  CHECK(f.at<uchar>(32, 32) == 1);
}

TEST_CASE("savp area-targeted dilation: ties at the k-th distance are all added") {
  const cv::Mat m = scenes::rect_mask({100, 100}, {40, 40, 10, 10});
  // k = int(100·1.2) − 100 = 20; the 40 pixels at distance 1 tie, so all 40 are added.
  const cv::Mat e = expand_mask(m, 1.2);
  CHECK(cv::countNonZero(e) == 140);
  CHECK(e.at<uchar>(39, 45) == 1);
  CHECK(e.at<uchar>(39, 39) == 0);  // the corner is at sqrt(2)
  // k = 50: past the 40 at distance 1 and the 4 corners at sqrt 2, the threshold is 2 (40 more).
  CHECK(cv::countNonZero(expand_mask(m, 1.5)) == 184);
  CHECK(cv::countNonZero(expand_mask(m, 1.0)) == 100);              // ratio <= 1: unchanged
  CHECK(cv::countNonZero(expand_mask(cv::Mat::zeros(9, 9, CV_8U), 1.2)) == 0);
  CHECK(cv::countNonZero(expand_mask(scenes::rect_mask({9, 9}, {4, 4, 2, 2}), 1.2)) == 4);  // k = 0: unchanged
  CHECK(cv::countNonZero(expand_mask(scenes::rect_mask({4, 4}, {0, 0, 3, 3}), 2.0)) == 16);  // k >= background
}

TEST_CASE("savp effect split: the residual is the shadow, the effects ratio its share of the dilated core") {
  const SavpConfig config;
  const auto s = scenes::shadow_scene();
  const cv::Mat effect = s.object_mask | s.shadow_mask;
  const EffectSplit e = split_effects(effect, s.object_mask, config);
  // Core 3600 px dilated to 4320 (+ ties); the residual is the shadow minus the ring the dilation took.
  const int core = cv::countNonZero(e.expanded_core);
  CHECK(core >= 4320);
  CHECK(core <= 4400);
  const int shadow = cv::countNonZero(s.shadow_mask);  // 70x35 (the object is above it)
  CHECK(shadow == 2450);
  const int residual = cv::countNonZero(e.residual);
  const int uncovered = cv::countNonZero(s.shadow_mask & ~e.expanded_core);
  CHECK(residual <= uncovered);
  CHECK(residual >= uncovered - 40);  // the cleaning's opening rounds the residual's corners
  CHECK(double(residual) / shadow > 0.9);
  CHECK(e.effects_ratio == doctest::Approx(double(residual) / core));
  CHECK(e.effects_ratio == doctest::Approx(2450.0 / 4320.0).epsilon(0.1));
  CHECK(e.phase2);
  // Without the shadow the residual is empty and the pair is not effect-heavy.
  const EffectSplit none = split_effects(s.object_mask, s.object_mask, config);
  CHECK(none.effects_ratio == 0.0);
  CHECK_FALSE(none.phase2);
}

TEST_CASE("savp object-core prompt box is inclusive, as separate_shadows.py builds it") {
  const Box b = inclusive_mask_box(scenes::rect_mask({50, 50}, {10, 20, 5, 7}));
  CHECK(b == Box{10, 20, 14, 26});
  CHECK(inclusive_mask_box(cv::Mat::zeros(5, 5, CV_8U)) == Box{});
}
