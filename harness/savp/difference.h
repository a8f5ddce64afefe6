// SAVP stages 1–3 on an ordered pair (spec §3–§5): the multi-feature difference heatmap, its
// binarisation and cleaning, the connected components with their candidate boxes, and the global
// rejection rules. Images are 8-bit BGR cv::Mat of equal size; masks are CV_8U in {0,1}.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "harness/savp/config.h"

namespace osor::harness::savp {

// Integer box, exclusive end: (x1, y1) top-left, (x2, y2) one past the last column/row.
struct Box {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  long long area() const { return static_cast<long long>(x2 - x1) * (y2 - y1); }
  bool operator==(const Box& o) const { return x1 == o.x1 && y1 == o.y1 && x2 == o.x2 && y2 == o.y2; }
};

struct Component {
  int label = 0;         // label in the component image (raster order of first pixel)
  long long area = 0;    // pixel count
  Box box;
};

// The 256-entry gamma step: trunc(clamp((v/255)^gamma · 255, 0, 255)) in float32, as numpy's
// astype(uint8) after the float32 power. OpenCV's 8-bit RGB→Lab then linearises sRGB again.
std::vector<unsigned char> gamma_lut(double gamma);

// Percentile ("linear", numpy's default) of the strictly positive values of a CV_32F image; 0 if none.
double positive_percentile(const cv::Mat& values, double percentile);

struct HeatmapTerms {
  cv::Mat d_l, d_ab, d_tex;  // raw per-pixel differences, CV_32F
  cv::Mat heat;              // CV_32F in [0,1]
};
// Symmetric in the two images. No blur (the official code has none).
HeatmapTerms difference_terms(const cv::Mat& bgr_a, const cv::Mat& bgr_b, const SavpConfig& config);
cv::Mat difference_heatmap(const cv::Mat& bgr_a, const cv::Mat& bgr_b, const SavpConfig& config);

// heat > tau_h (strict, float32) → {0,1}.
cv::Mat binarize(const cv::Mat& heat, const SavpConfig& config);

// skimage disk(r): x²+y² <= r² on a (2r+1)² grid. Not cv::MORPH_ELLIPSE.
cv::Mat disk_kernel(int radius);

// clean_raw_mask: opening then closing with disk(r_morph) (reflect borders, as scipy.ndimage), drop
// 8-connected components below a_min pixels, then fill holes of at most a_hole pixels (holes: the
// background not 4-connected to the border, grouped by 8-connectivity).
cv::Mat clean_mask(const cv::Mat& mask, const SavpConfig& config);

// 8-connected components sorted by pixel area, descending (stable: ties keep label order). `labels`
// receives the CV_32S label image when given.
std::vector<Component> components_by_area(const cv::Mat& mask, cv::Mat* labels = nullptr);

// Components with area >= alpha · largest: the candidate regions.
std::vector<Component> main_components(const std::vector<Component>& sorted, const SavpConfig& config);

// Global rejection of the cleaned mask: "" when it passes, else "empty_mask", "too_many_objects"
// (more than n_max main components) or "high_noise" (non-main area ratio > tau_noise), checked in
// that order.
std::string audit(const std::vector<Component>& sorted, const SavpConfig& config);

}  // namespace osor::harness::savp
