#include "harness/savp/difference.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace osor::harness::savp {

std::vector<unsigned char> gamma_lut(double gamma) {
  std::vector<unsigned char> lut(256);
  const float g = static_cast<float>(gamma);
  for (int v = 0; v < 256; ++v) {
    const float x = std::pow(static_cast<float>(v) / 255.0f, g) * 255.0f;
    lut[v] = static_cast<unsigned char>(std::clamp(x, 0.0f, 255.0f));  // truncation, as astype(uint8)
  }
  return lut;
}

double positive_percentile(const cv::Mat& values, double percentile) {
  CV_Assert(values.type() == CV_32F);
  std::vector<float> pos;
  pos.reserve(values.total() / 4);
  for (int y = 0; y < values.rows; ++y) {
    const float* row = values.ptr<float>(y);
    for (int x = 0; x < values.cols; ++x)
      if (row[x] > 0) pos.push_back(row[x]);
  }
  if (pos.empty()) return 0.0;
  const double index = percentile / 100.0 * static_cast<double>(pos.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(index));
  const double t = index - static_cast<double>(lo);
  std::nth_element(pos.begin(), pos.begin() + lo, pos.end());
  const double a = pos[lo];
  if (lo + 1 >= pos.size() || t == 0.0) return a;
  const double b = *std::min_element(pos.begin() + lo + 1, pos.end());
  // numpy's _lerp: a + (b-a)·t, or b - (b-a)·(1-t) when t >= 0.5.
  return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

namespace {

struct Features {
  cv::Mat log_l;  // ln(L + eps), L = Lab_L(gamma'd image) · 100/255
  cv::Mat a, b;   // Lab a, b − 128
  cv::Mat grad;   // Sobel magnitude of the original gray image
};

Features features(const cv::Mat& bgr, const cv::Mat& lut, const SavpConfig& config) {
  Features f;
  cv::Mat gammad, lab;
  cv::LUT(bgr, lut, gammad);
  cv::cvtColor(gammad, lab, cv::COLOR_BGR2Lab);
  f.log_l.create(bgr.size(), CV_32F);
  f.a.create(bgr.size(), CV_32F);
  f.b.create(bgr.size(), CV_32F);
  const float eps = static_cast<float>(config.eps);
  for (int y = 0; y < bgr.rows; ++y) {
    const unsigned char* p = lab.ptr<unsigned char>(y);
    float* l = f.log_l.ptr<float>(y);
    float* a = f.a.ptr<float>(y);
    float* b = f.b.ptr<float>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      l[x] = std::log(static_cast<float>(p[3 * x]) * (100.0f / 255.0f) + eps);
      a[x] = static_cast<float>(p[3 * x + 1]) - 128.0f;
      b[x] = static_cast<float>(p[3 * x + 2]) - 128.0f;
    }
  }
  cv::Mat gray, gray_f, sx, sy;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  gray.convertTo(gray_f, CV_32F);
  cv::Sobel(gray_f, sx, CV_32F, 1, 0, 3);
  cv::Sobel(gray_f, sy, CV_32F, 0, 1, 3);
  cv::magnitude(sx, sy, f.grad);
  return f;
}

// clip(x / (p99(x>0) + eps), 0, 1), or zeros when no value is positive.
cv::Mat normalized(const cv::Mat& x, const SavpConfig& config) {
  const double p = positive_percentile(x, config.percentile);
  if (p == 0.0 && cv::countNonZero(x > 0) == 0) return cv::Mat::zeros(x.size(), CV_32F);
  cv::Mat out = x * (1.0 / static_cast<float>(p + config.eps));
  cv::min(out, 1.0, out);
  cv::max(out, 0.0, out);
  return out;
}

}  // namespace

HeatmapTerms difference_terms(const cv::Mat& bgr_a, const cv::Mat& bgr_b, const SavpConfig& config) {
  CV_Assert(bgr_a.type() == CV_8UC3 && bgr_b.type() == CV_8UC3 && bgr_a.size() == bgr_b.size());
  const std::vector<unsigned char> table = gamma_lut(config.gamma);
  const cv::Mat lut(1, 256, CV_8U, const_cast<unsigned char*>(table.data()));
  const Features fa = features(bgr_a, lut, config), fb = features(bgr_b, lut, config);
  HeatmapTerms t;
  cv::absdiff(fa.log_l, fb.log_l, t.d_l);
  cv::Mat da = fa.a - fb.a, db = fa.b - fb.b;
  cv::magnitude(da, db, t.d_ab);
  cv::absdiff(fa.grad, fb.grad, t.d_tex);
  cv::Mat heat = normalized(t.d_l, config) * static_cast<float>(config.w_l) +
                 normalized(t.d_ab, config) * static_cast<float>(config.w_ab);
  heat += normalized(t.d_tex, config) * static_cast<float>(config.w_tex);
  cv::min(heat, 1.0, heat);
  cv::max(heat, 0.0, heat);
  t.heat = heat;
  return t;
}

cv::Mat difference_heatmap(const cv::Mat& bgr_a, const cv::Mat& bgr_b, const SavpConfig& config) {
  return difference_terms(bgr_a, bgr_b, config).heat;
}

cv::Mat binarize(const cv::Mat& heat, const SavpConfig& config) {
  cv::Mat out;
  cv::threshold(heat, out, config.tau_h, 1.0, cv::THRESH_BINARY);  // strict '>' in float32
  out.convertTo(out, CV_8U);
  return out;
}

cv::Mat disk_kernel(int radius) {
  cv::Mat k = cv::Mat::zeros(2 * radius + 1, 2 * radius + 1, CV_8U);
  for (int y = -radius; y <= radius; ++y)
    for (int x = -radius; x <= radius; ++x)
      if (x * x + y * y <= radius * radius) k.at<unsigned char>(y + radius, x + radius) = 1;
  return k;
}

namespace {

// Drops (or, for holes, fills) components by size: keeps pixels of components with area >= min_area.
cv::Mat keep_large_components(const cv::Mat& mask, int min_area) {
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  std::vector<unsigned char> keep(n, 0);
  for (int i = 1; i < n; ++i) keep[i] = stats.at<int>(i, cv::CC_STAT_AREA) >= min_area;
  cv::Mat out = cv::Mat::zeros(mask.size(), CV_8U);
  for (int y = 0; y < mask.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    unsigned char* o = out.ptr<unsigned char>(y);
    for (int x = 0; x < mask.cols; ++x) o[x] = keep[l[x]];
  }
  return out;
}

// scipy binary_fill_holes (4-connected background reaches the border) + skimage 8-connected hole
// grouping: holes of at most max_hole pixels are filled.
cv::Mat fill_small_holes(const cv::Mat& mask, int max_hole) {
  cv::Mat background = mask == 0, bg_labels;
  const int n = cv::connectedComponents(background, bg_labels, 4, CV_32S);
  std::vector<unsigned char> touches(n, 0);
  const int h = mask.rows, w = mask.cols;
  for (int x = 0; x < w; ++x) touches[bg_labels.at<int>(0, x)] = touches[bg_labels.at<int>(h - 1, x)] = 1;
  for (int y = 0; y < h; ++y) touches[bg_labels.at<int>(y, 0)] = touches[bg_labels.at<int>(y, w - 1)] = 1;
  cv::Mat holes = cv::Mat::zeros(mask.size(), CV_8U);
  bool any = false;
  for (int y = 0; y < h; ++y) {
    const int* l = bg_labels.ptr<int>(y);
    unsigned char* o = holes.ptr<unsigned char>(y);
    for (int x = 0; x < w; ++x)
      if (l[x] != 0 && !touches[l[x]]) o[x] = 1, any = true;
  }
  cv::Mat out = mask.clone();
  if (!any) return out;
  cv::Mat labels, stats, centroids;
  const int m = cv::connectedComponentsWithStats(holes, labels, stats, centroids, 8, CV_32S);
  std::vector<unsigned char> fill(m, 0);
  for (int i = 1; i < m; ++i) fill[i] = stats.at<int>(i, cv::CC_STAT_AREA) <= max_hole;
  for (int y = 0; y < h; ++y) {
    const int* l = labels.ptr<int>(y);
    unsigned char* o = out.ptr<unsigned char>(y);
    for (int x = 0; x < w; ++x)
      if (fill[l[x]]) o[x] = 1;
  }
  return out;
}

}  // namespace

cv::Mat clean_mask(const cv::Mat& mask, const SavpConfig& config) {
  CV_Assert(mask.type() == CV_8U);
  cv::Mat m = (mask > 0) / 255;
  if (config.r_morph > 0) {
    const cv::Mat k = disk_kernel(config.r_morph);
    const cv::Point anchor(-1, -1);
    // scipy.ndimage grey morphology with mode='reflect' is BORDER_REFLECT (edge pixel repeated).
    cv::morphologyEx(m, m, cv::MORPH_OPEN, k, anchor, 1, cv::BORDER_REFLECT);
    cv::morphologyEx(m, m, cv::MORPH_CLOSE, k, anchor, 1, cv::BORDER_REFLECT);
  }
  m = keep_large_components(m, config.a_min);
  return fill_small_holes(m, config.a_hole);
}

std::vector<Component> components_by_area(const cv::Mat& mask, cv::Mat* labels_out) {
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask > 0, labels, stats, centroids, 8, CV_32S);
  std::vector<Component> out;
  out.reserve(n > 0 ? n - 1 : 0);
  for (int i = 1; i < n; ++i) {
    Component c;
    c.label = i;
    c.area = stats.at<int>(i, cv::CC_STAT_AREA);
    c.box.x1 = stats.at<int>(i, cv::CC_STAT_LEFT);
    c.box.y1 = stats.at<int>(i, cv::CC_STAT_TOP);
    c.box.x2 = c.box.x1 + stats.at<int>(i, cv::CC_STAT_WIDTH);
    c.box.y2 = c.box.y1 + stats.at<int>(i, cv::CC_STAT_HEIGHT);
    out.push_back(c);
  }
  std::stable_sort(out.begin(), out.end(), [](const Component& a, const Component& b) { return a.area > b.area; });
  if (labels_out) *labels_out = labels;
  return out;
}

std::vector<Component> main_components(const std::vector<Component>& sorted, const SavpConfig& config) {
  std::vector<Component> out;
  if (sorted.empty()) return out;
  const double split = static_cast<double>(sorted.front().area) * config.alpha;
  for (const Component& c : sorted)
    if (static_cast<double>(c.area) >= split) out.push_back(c);
  return out;
}

std::string audit(const std::vector<Component>& sorted, const SavpConfig& config) {
  if (sorted.empty()) return "empty_mask";
  const double split = static_cast<double>(sorted.front().area) * config.alpha;
  long long total = 0, noise = 0;
  int n_main = 0;
  for (const Component& c : sorted) {
    total += c.area;
    if (static_cast<double>(c.area) >= split) ++n_main; else noise += c.area;
  }
  if (n_main > config.n_max) return "too_many_objects";
  if (static_cast<double>(noise) / static_cast<double>(std::max(total, 1LL)) > config.tau_noise) return "high_noise";
  return "";
}

}  // namespace osor::harness::savp
