// SAVP difference stage (spec §3–§5): heatmap, binarisation, cleaning, components, global audit.
#include <doctest/doctest.h>

#include "harness/savp/difference.h"
#include "tests/harness/test_savp_scenes.h"

using namespace osor::harness::savp;
namespace scenes = osor::test::savp;

TEST_CASE("savp gamma LUT truncates the float32 power as numpy astype(uint8)") {
  const auto lut = gamma_lut(2.2);
  CHECK(lut[0] == 0);
  CHECK(lut[1] == 0);
  CHECK(lut[128] == 55);  // (128/255)^2.2·255 = 55.98
  CHECK(lut[200] == 149); // (200/255)^2.2·255 = 149.63
  CHECK(lut[255] == 255);
}

TEST_CASE("savp percentile is numpy's linear percentile over the strictly positive values") {
  cv::Mat v = cv::Mat::zeros(1, 150, CV_32F);
  for (int i = 0; i < 100; ++i) v.at<float>(0, i) = static_cast<float>(i + 1);  // 1..100, then 50 zeros
  CHECK(positive_percentile(v, 99.0) == doctest::Approx(99.01).epsilon(1e-9));
  CHECK(positive_percentile(v, 50.0) == doctest::Approx(50.5).epsilon(1e-9));
  CHECK(positive_percentile(cv::Mat::zeros(3, 3, CV_32F), 99.0) == 0.0);
}

TEST_CASE("savp heatmap: zero for identical images, symmetric, covers the pasted object and its shadow") {
  const SavpConfig config;
  const auto s = scenes::shadow_scene();
  CHECK(cv::countNonZero(difference_heatmap(s.without_object, s.without_object, config)) == 0);
  const cv::Mat h = difference_heatmap(s.without_object, s.with_object, config);
  const cv::Mat h2 = difference_heatmap(s.with_object, s.without_object, config);
  CHECK(cv::norm(h, h2, cv::NORM_INF) == 0.0);
  double lo = 0, hi = 0;
  cv::minMaxLoc(h, &lo, &hi);
  CHECK(lo >= 0.0);
  CHECK(hi <= 1.0);
  // Every object pixel and every shadow pixel is above tau_H; nothing changes 2 px away from them
  // (the Sobel support is 1 px).
  cv::Mat changed = s.object_mask | s.shadow_mask, near;
  cv::dilate(changed, near, cv::Mat::ones(5, 5, CV_8U));
  cv::Mat above = h > config.tau_h;
  CHECK(cv::countNonZero(above & (s.object_mask * 255)) == s.object.area());
  CHECK(cv::countNonZero(above & (s.shadow_mask * 255)) == cv::countNonZero(s.shadow_mask));
  cv::Mat far = h.clone();
  far.setTo(0, near);
  CHECK(cv::countNonZero(far) == 0);  // the far background is exactly 0
  // The shadow survives through the log-luminance term (dark regions are emphasised).
  const HeatmapTerms t = difference_terms(s.without_object, s.with_object, config);
  CHECK(cv::mean(t.d_l, s.shadow_mask)[0] > 0.5);
}

TEST_CASE("savp disk(3) is skimage's disk, not OpenCV's ellipse") {
  const cv::Mat k = disk_kernel(3);
  const int rows[7][7] = {{0, 0, 0, 1, 0, 0, 0}, {0, 1, 1, 1, 1, 1, 0}, {0, 1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 1, 1, 1},
                          {0, 1, 1, 1, 1, 1, 0}, {0, 1, 1, 1, 1, 1, 0}, {0, 0, 0, 1, 0, 0, 0}};
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 7; ++x) CHECK(k.at<uchar>(y, x) == rows[y][x]);
  CHECK(cv::countNonZero(k) == 29);
}

TEST_CASE("savp cleaning: opening drops thin lines, small components go, holes <= 500 px are filled") {
  const SavpConfig config;
  cv::Mat m = cv::Mat::zeros(200, 300, CV_8U);
  m(cv::Rect(10, 10, 60, 60)).setTo(1);    // 3600 px with a 20x20 hole (400 px): filled
  m(cv::Rect(30, 30, 20, 20)).setTo(0);
  m(cv::Rect(100, 10, 80, 80)).setTo(1);   // 6400 px with a 25x25 hole (625 px): stays open
  m(cv::Rect(127, 37, 25, 25)).setTo(0);
  m(cv::Rect(200, 120, 40, 40)).setTo(1);  // 1600 px < A_min: removed
  m(cv::Rect(70, 40, 30, 1)).setTo(1);     // 1-px line joining the squares: removed by the opening
  const cv::Mat c = clean_mask(m, config);
  // The opening with disk(3) cuts 5 px off each convex corner (4 corners: 20 px); the closing fills
  // 5 px into each corner of the open hole (20 px).
  CHECK(cv::countNonZero(c(cv::Rect(10, 10, 60, 60))) == 3600 - 20);
  CHECK(cv::countNonZero(c(cv::Rect(127, 37, 25, 25))) == 20);
  CHECK(cv::countNonZero(c(cv::Rect(200, 120, 40, 40))) == 0);
  CHECK(cv::countNonZero(c(cv::Rect(71, 40, 28, 1))) == 0);
  CHECK(cv::countNonZero(c) == 9357);  // measured: both squares, corners rounded, the large hole open
}

TEST_CASE("savp hole fill: background 4-connected to the border is not a hole, holes group 8-connected") {
  SavpConfig config;
  config.r_morph = 0;  // no morphology: test the fill alone
  config.a_min = 1;
  cv::Mat m = cv::Mat::ones(80, 80, CV_8U);
  // A pocket reaching the border-touching background only through a diagonal step: scipy's fill
  // (4-connected) calls it a hole. 100 px: filled.
  m(cv::Rect(0, 0, 10, 10)).setTo(0);
  m(cv::Rect(10, 10, 10, 10)).setTo(0);
  // Holes of 300 and 216 px touching diagonally: one 8-connected hole of 516 px (> 500), so both stay open
  // (grouped 4-connected they would be filled).
  m(cv::Rect(25, 25, 15, 20)).setTo(0);
  m(cv::Rect(40, 45, 18, 12)).setTo(0);
  // A 256 px hole on its own: filled.
  m(cv::Rect(60, 60, 16, 16)).setTo(0);
  const cv::Mat c = clean_mask(m, config);
  CHECK(cv::countNonZero(c(cv::Rect(0, 0, 10, 10))) == 0);
  CHECK(cv::countNonZero(c(cv::Rect(10, 10, 10, 10))) == 100);
  CHECK(cv::countNonZero(c(cv::Rect(25, 25, 15, 20))) == 0);
  CHECK(cv::countNonZero(c(cv::Rect(40, 45, 18, 12))) == 0);
  CHECK(cv::countNonZero(c(cv::Rect(60, 60, 16, 16))) == 256);
}

TEST_CASE("savp components: descending area, exclusive boxes, main components by alpha") {
  const SavpConfig config;
  cv::Mat m = cv::Mat::zeros(100, 100, CV_8U);
  m(cv::Rect(5, 5, 10, 10)).setTo(1);    // 100
  m(cv::Rect(50, 50, 20, 30)).setTo(1);  // 600
  m(cv::Rect(5, 60, 15, 10)).setTo(1);   // 150
  const auto comps = components_by_area(m);
  REQUIRE(comps.size() == 3);
  CHECK(comps[0].area == 600);
  CHECK(comps[0].box == Box{50, 50, 70, 80});
  CHECK(comps[1].area == 150);
  CHECK(comps[2].area == 100);
  const auto main = main_components(comps, config);  // >= 0.3·600 = 180
  REQUIRE(main.size() == 1);
  CHECK(main[0].area == 600);
}

TEST_CASE("savp audit: empty, fragmented (too_many_objects) before high_noise, passes a dominant region") {
  const SavpConfig config;
  CHECK(audit({}, config) == "empty_mask");
  auto comp = [](long long area) {
    Component c;
    c.area = area;
    return c;
  };
  CHECK(audit({comp(5000), comp(4000), comp(3000), comp(2500), comp(2000)}, config) == "too_many_objects");
  CHECK(audit({comp(5000), comp(4000), comp(3000), comp(2500)}, config) == "");
  // Noise = components below 0.3·largest: 5800/15800 = 0.367 > 0.3.
  CHECK(audit({comp(10000), comp(2900), comp(2900)}, config) == "high_noise");
  CHECK(audit({comp(10000), comp(2900)}, config) == "");  // 2900/12900 = 0.225
  // Five main components also have noise > 0.3: fragmentation is reported first.
  CHECK(audit({comp(5000), comp(5000), comp(5000), comp(5000), comp(5000), comp(1400), comp(1400)}, config) ==
        "too_many_objects");
}
