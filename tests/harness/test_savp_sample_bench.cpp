// SAVP end to end on the bundled sample benchmark (bench_data/sample) treated as triplets: input =
// I_obj, gt = I_bg, the object masks stand in for SAM2, their boxes for GroundingDINO. Every sample
// must be kept and the effect-aware mask must match the benchmark's effect mask.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>

#include "harness/file_pairs.h"
#include "harness/savp/pipeline.h"
#include "tests/harness/test_savp_scenes.h"
#include "tests/test_paths.h"

using namespace osor::harness::savp;
namespace fs = std::filesystem;

TEST_CASE("savp on the bundled sample benchmark keeps every sample, effect-mask IoU above the measured floor") {
  // $OSOR_SAMPLE_BENCH_DIR: another output of scripts/make_sample_benchmark.py (e.g. other seeds).
  const char* other = std::getenv("OSOR_SAMPLE_BENCH_DIR");
  const fs::path root = other && *other ? fs::path(other)
                                        : osor::test::fixtures_dir().parent_path().parent_path() / "bench_data" / "sample";
  if (!fs::is_directory(root / "input")) {
    MESSAGE("SKIPPED: " << root.string() << " not found");
    return;
  }
  // The samples are 256²; SAVP's pixel constants are absolute at NHR-Edit's ~1024², so the area
  // thresholds scale by (256/1024)².
  SavpConfig config;
  config.a_min = 2000 / 16;
  config.a_hole = 500 / 16;
  MaskFolderSegmenter segmenter(root / "mask");
  double sum_effect = 0, sum_fused = 0, min_effect = 1;
  int n = 0, kept = 0;
  for (const fs::path& input : osor::harness::list_images(root / "input")) {
    Triplet t;
    t.id = input.stem().string();
    t.kind = EditKind::Ordered;
    t.source = input;
    t.edited = root / "gt" / input.filename();
    const cv::Mat object = read_bgr(t.object_image()), background = read_bgr(t.background_image());
    const cv::Mat object_mask = read_binary_mask(root / "mask" / input.filename(), object.size());
    const cv::Mat effect_truth = read_binary_mask(root / "mask_effect" / input.filename(), object.size());
    const cv::Rect box = cv::boundingRect(object_mask);
    osor::test::savp::FixedDetector detector;
    detector.boxes = {osor::test::savp::det(box, 1.0)};
    const PairResult r = verify_pair(t, object, background, detector, segmenter, config);
    CAPTURE(t.id);
    if (!r.kept) std::printf("savp sample %s: rejected at %s: %s\n", t.id.c_str(), r.stage.c_str(), r.reason.c_str());
    ++n;
    if (!r.kept) continue;
    ++kept;
    const double iou_effect = osor::test::savp::iou(r.effect_mask, effect_truth);
    const double iou_fused = osor::test::savp::iou(r.fused, effect_truth);
    std::printf("savp sample %s: IoU(m_gt, effect mask) = %.4f, IoU(fused before dilation) = %.4f, effects ratio %.3f\n",
                t.id.c_str(), iou_effect, iou_fused, r.effects.effects_ratio);
    sum_effect += iou_effect;
    sum_fused += iou_fused;
    min_effect = std::min(min_effect, iou_effect);
  }
  REQUIRE(n >= 24);
  const double mean_kept = kept ? sum_effect / kept : 0.0, mean_all = sum_effect / n;  // rejected count as 0
  std::printf("savp sample benchmark: %d/%d kept, mean IoU %.4f over kept (min %.4f), %.4f over all, before dilation %.4f\n",
              kept, n, mean_kept, min_effect, mean_all, kept ? sum_fused / kept : 0.0);
  // Measured (2026-11-29, sample of scripts/make_sample_benchmark.py --seed 20261128: contact shadows, short
  // reflections, effect masks where the effects are visible): 24/24 kept, fused-mask IoU 0.829 mean, effect mask
  // (after the x1.2 area-targeted dilation, which alone caps the IoU at 1/1.2) 0.727.
  CHECK(kept == n);
  CHECK(sum_fused / n >= 0.80);
  CHECK(mean_all >= 0.70);
}
