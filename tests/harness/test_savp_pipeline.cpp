// SAVP end to end on one pair (verify_pair), on constructed scenes with known answers.
#include <doctest/doctest.h>

#include "harness/savp/pipeline.h"
#include "tests/harness/test_savp_scenes.h"

using namespace osor::harness::savp;
namespace scenes = osor::test::savp;

namespace {

Triplet triplet(const std::string& id = "t") {
  Triplet t;
  t.id = id;
  t.instruction = "Remove the object.";
  return t;
}

// Flat-colour patches pasted on the textured background.
cv::Mat with_patches(const cv::Mat& bg, const std::vector<cv::Rect>& rects) {
  cv::Mat out = bg.clone();
  for (const cv::Rect& r : rects) out(r).setTo(cv::Scalar(20, 30, 230));
  return out;
}

}  // namespace

TEST_CASE("savp pair: pasted object with a shadow is kept, the effect mask covers object and shadow") {
  const SavpConfig config;
  const auto s = scenes::shadow_scene();
  scenes::FixedDetector detector;
  detector.boxes = {scenes::det(s.object, 0.62), scenes::det({0, 0, 30, 30}, 0.1)};
  scenes::FixedSegmenter segmenter;
  segmenter.mask = s.object_mask;
  const PairResult r = verify_pair(triplet(), s.with_object, s.without_object, detector, segmenter, config);
  CAPTURE(r.reason);
  REQUIRE(r.kept);
  // One candidate: object and attached shadow (70x95) plus the 1-px Sobel ring, box (79,60)-(151,156);
  // IoU with the detection 0.52, box-area ratio 6912/3600 = 1.92 <= 2.
  REQUIRE(r.candidates.size() == 1);
  CHECK(r.candidates[0].box == Box{79, 60, 151, 156});
  REQUIRE(r.validation.kept.size() == 1);
  // The segmenter saw the validated difference box, then the inclusive box around the whole m_gt.
  REQUIRE(segmenter.prompts.size() == 2);
  CHECK(segmenter.prompts[0] == Box{79, 60, 151, 156});
  CHECK(segmenter.prompts[1] == inclusive_mask_box(r.effect_mask));
  const cv::Mat truth = s.object_mask | s.shadow_mask;
  CHECK(cv::countNonZero(r.fused & s.object_mask) == s.object.area());
  CHECK(cv::countNonZero(r.fused & s.shadow_mask) == cv::countNonZero(s.shadow_mask));
  CHECK(scenes::iou(r.fused, truth) > 0.93);  // + the 1-px Sobel ring around the change
  CHECK(scenes::iou(r.effect_mask, truth) > 0.8);  // the 1.2 dilation adds ~20 % of the area
  const int effect = cv::countNonZero(r.effect_mask), fused = cv::countNonZero(r.fused);
  CHECK(effect >= static_cast<int>(fused * 1.2));
  // Effects ratio: the shadow (2450 px) over the dilated core (~4320 px), less the ring the core's
  // dilation takes from the shadow, plus the ring m_gt's own dilation added around the shadow.
  CHECK(r.effects.effects_ratio == doctest::Approx(2450.0 / 4320.0).epsilon(0.15));
  CHECK(r.effects.phase2);
}

TEST_CASE("savp pair: a pasted object without effects is kept and not effect-heavy") {
  const SavpConfig config;
  const auto s = scenes::shadow_scene({80, 60, 60, 60}, {0, 0, 1, 1}, 1.0);  // no shadow
  scenes::FixedDetector detector;
  detector.boxes = {scenes::det(s.object, 0.8)};
  scenes::FixedSegmenter segmenter;
  segmenter.mask = s.object_mask;
  const PairResult r = verify_pair(triplet(), s.with_object, s.without_object, detector, segmenter, config);
  REQUIRE(r.kept);
  CHECK(scenes::iou(r.fused, s.object_mask) > 0.93);  // 60² object, 1-px Sobel ring: 0.947
  CHECK(r.effects.effects_ratio < 0.05);
  CHECK_FALSE(r.effects.phase2);
}

TEST_CASE("savp pair: a fragmented difference is rejected by the global rule") {
  const SavpConfig config;
  const cv::Mat bg = scenes::background(300, 300);
  // Six scattered 50x50 changes: six main components > N_max = 4.
  const cv::Mat scattered = with_patches(bg, {{10, 10, 50, 50}, {120, 10, 50, 50}, {230, 10, 50, 50},
                                              {10, 200, 50, 50}, {120, 200, 50, 50}, {230, 200, 50, 50}});
  scenes::FixedDetector detector;
  detector.boxes = {scenes::det({10, 10, 50, 50}, 0.9)};
  scenes::FixedSegmenter segmenter;
  segmenter.mask = cv::Mat::zeros(bg.size(), CV_8U);
  PairResult r = verify_pair(triplet(), scattered, bg, detector, segmenter, config);
  CHECK_FALSE(r.kept);
  CHECK(r.stage == "difference");
  CHECK(r.reason == "diff_quality_too_many_objects");
  CHECK(r.components.size() == 6);
  // One dominant change plus three small ones (2500 < 0.3·12100): noise ratio 0.38 > 0.3.
  const cv::Mat noisy = with_patches(bg, {{20, 20, 110, 110}, {200, 20, 50, 50}, {200, 200, 50, 50}, {20, 220, 50, 50}});
  r = verify_pair(triplet(), noisy, bg, detector, segmenter, config);
  CHECK(r.reason == "diff_quality_high_noise");
  // Identical images: nothing differs.
  r = verify_pair(triplet(), bg, bg, detector, segmenter, config);
  CHECK(r.reason == "diff_quality_empty_mask");
  CHECK(detector.boxes.size() == 1);
  CHECK(segmenter.prompts.empty());  // rejected before segmentation
}

TEST_CASE("savp pair: a candidate far larger than its semantic box triggers the collapse rule") {
  const SavpConfig config;
  const cv::Mat bg = scenes::background(300, 300);
  const cv::Mat changed = with_patches(bg, {{50, 50, 150, 150}});
  scenes::FixedDetector detector;
  detector.boxes = {scenes::det({100, 100, 30, 30}, 0.7)};  // the "object" the detector found: 25x smaller
  scenes::FixedSegmenter segmenter;
  segmenter.mask = cv::Mat::zeros(bg.size(), CV_8U);
  PairResult r = verify_pair(triplet(), changed, bg, detector, segmenter, config);
  CHECK(r.stage == "anchoring");
  CHECK(r.reason == "background_collapse");
  detector.boxes = {scenes::det({60, 60, 95, 95}, 0.7)};  // aligned (IoU 0.40) but 150² / 95² = 2.49 > 2
  r = verify_pair(triplet(), changed, bg, detector, segmenter, config);
  CHECK(r.reason == "scale_overflow_aligned");
  detector.boxes = {scenes::det({250, 250, 40, 40}, 0.7)};  // no overlap at all
  r = verify_pair(triplet(), changed, bg, detector, segmenter, config);
  CHECK(r.reason == "no_valid_regions");
  detector.boxes = {};
  r = verify_pair(triplet(), changed, bg, detector, segmenter, config);
  CHECK(r.reason == "no_semantic_targets");
}

TEST_CASE("savp pair: a uniform colour shift passes the audit and is rejected by the semantic rules (spec §12)") {
  const SavpConfig config;
  const cv::Mat bg(240, 320, CV_8UC3, cv::Scalar(110, 120, 130));
  const cv::Mat shifted(240, 320, CV_8UC3, cv::Scalar(110, 150, 170));
  // H is constant: one full-frame component, one main region, no noise → the global audit passes.
  const cv::Mat heat = difference_heatmap(bg, shifted, config);
  double lo = 0, hi = 0;
  cv::minMaxLoc(heat, &lo, &hi);
  CHECK(lo == hi);
  CHECK(lo > config.tau_h);
  scenes::FixedDetector detector;
  detector.boxes = {scenes::det({100, 80, 60, 60}, 0.5)};
  scenes::FixedSegmenter segmenter;
  segmenter.mask = cv::Mat::zeros(bg.size(), CV_8U);
  PairResult r = verify_pair(triplet(), shifted, bg, detector, segmenter, config);
  REQUIRE(r.components.size() == 1);
  CHECK(r.components[0].area == 240 * 320);
  CHECK(r.stage == "anchoring");
  CHECK(r.reason == "background_collapse");
  // The official code keeps it when the detector's box covers at least half the frame.
  detector.boxes = {scenes::det({0, 0, 320, 130}, 0.5)};
  r = verify_pair(triplet(), shifted, bg, detector, segmenter, config);
  CHECK(r.kept);
}

TEST_CASE("savp pair: several validated boxes are OR-ed (intended), reference_quirk fails like the official code") {
  SavpConfig config;
  const cv::Mat bg = scenes::background(300, 300);
  const cv::Rect a{20, 20, 70, 70}, b{180, 150, 60, 80};
  const cv::Mat changed = with_patches(bg, {a, b});
  scenes::FixedDetector detector;
  detector.boxes = {scenes::det(a, 0.8), scenes::det(b, 0.6)};
  scenes::BoxClippedSegmenter segmenter;
  segmenter.objects = scenes::rect_mask(bg.size(), a) | scenes::rect_mask(bg.size(), b);
  PairResult r = verify_pair(triplet(), changed, bg, detector, segmenter, config);
  REQUIRE(r.kept);
  CHECK(r.validation.kept.size() == 2);
  const cv::Mat both = scenes::rect_mask(bg.size(), a) | scenes::rect_mask(bg.size(), b);
  CHECK(cv::countNonZero(r.fused & both) == a.area() + b.area());
  CHECK(scenes::iou(r.fused, both) > 0.93);
  config.multibox = MultiboxMode::ReferenceQuirk;
  r = verify_pair(triplet(), changed, bg, detector, segmenter, config);
  CHECK_FALSE(r.kept);
  CHECK(r.stage == "segmentation");
  CHECK(r.reason == "error");
}

TEST_CASE("savp pair: images of different sizes are rejected as shape_mismatch") {
  scenes::FixedDetector detector;
  scenes::FixedSegmenter segmenter;
  const PairResult r = verify_pair(triplet(), scenes::background(100, 120), scenes::background(100, 100), detector,
                                   segmenter, SavpConfig{});
  CHECK(r.stage == "input");
  CHECK(r.reason == "shape_mismatch");
}
