#include "model/train/mask_geometry.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <deque>
#include <limits>

#include "model/error.h"

namespace osor::model::train {
namespace {

void check_mask(const at::Tensor& mask, const char* what) {
  if (mask.dim() != 2 || mask.scalar_type() != at::kByte || !mask.device().is_cpu())
    throw ModelError(std::string(what) + ": expected a uint8 [H,W] mask on the CPU, got " + c10::str(mask.sizes()) +
                     " " + c10::toString(mask.scalar_type()));
}

struct Offset {
  int dy, dx, cost;
};

// OpenCV's 5×5 chamfer mask for DIST_L2 in 16.16 fixed point: forward half (the backward pass mirrors it).
constexpr int kAxial = 65536, kDiagonal = 91750, kKnight = 143976;
constexpr std::array<Offset, 8> kForward = {{{-2, -1, kKnight}, {-2, 1, kKnight}, {-1, -2, kKnight},
                                             {-1, -1, kDiagonal}, {-1, 0, kAxial}, {-1, 1, kDiagonal},
                                             {-1, 2, kKnight}, {0, -1, kAxial}}};

}  // namespace

at::Tensor distance_transform(const at::Tensor& mask) {
  check_mask(mask, "distance_transform");
  const int64_t h = mask.size(0), w = mask.size(1);
  const at::Tensor m = mask.contiguous();
  const uint8_t* src = m.data_ptr<uint8_t>();
  constexpr int kFar = 1 << 30;
  std::vector<int> d(h * w);
  for (int64_t i = 0; i < h * w; ++i) d[i] = src[i] ? kFar : 0;
  auto relax = [&](int64_t y, int64_t x, int sign) {
    int& v = d[y * w + x];
    if (!v) return;
    for (const auto& o : kForward) {
      const int64_t yy = y + sign * o.dy, xx = x + sign * o.dx;
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
      v = std::min(v, d[yy * w + xx] + o.cost);
    }
  };
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) relax(y, x, 1);
  for (int64_t y = h - 1; y >= 0; --y)
    for (int64_t x = w - 1; x >= 0; --x) relax(y, x, -1);
  at::Tensor out = at::empty({h, w}, at::kFloat);
  float* o = out.data_ptr<float>();
  for (int64_t i = 0; i < h * w; ++i) o[i] = static_cast<float>(d[i]) / 65536.0f;
  return out;
}

namespace {

// Labels of the 8-connected foreground components (−1 for background) and which of them are external: 4-adjacent
// to the background that reaches the image border (the zero padding OpenCV's findContours assumes).
std::pair<std::vector<int>, std::vector<bool>> external_components(const uint8_t* m, int64_t h, int64_t w) {
  std::vector<int> label(h * w, -1);
  std::vector<bool> outside(h * w, false);
  std::deque<int64_t> q;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      if (!m[y * w + x] && (y == 0 || x == 0 || y == h - 1 || x == w - 1)) outside[y * w + x] = true, q.push_back(y * w + x);
  const int d4[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};
  while (!q.empty()) {
    const int64_t i = q.front(), y = i / w, x = i % w;
    q.pop_front();
    for (const auto& o : d4) {
      const int64_t yy = y + o[0], xx = x + o[1], j = yy * w + xx;
      if (yy >= 0 && yy < h && xx >= 0 && xx < w && !m[j] && !outside[j]) outside[j] = true, q.push_back(j);
    }
  }
  std::vector<bool> external;
  for (int64_t s = 0; s < h * w; ++s) {
    if (!m[s] || label[s] >= 0) continue;
    const int id = static_cast<int>(external.size());
    bool ext = false;
    label[s] = id;
    q.push_back(s);
    while (!q.empty()) {
      const int64_t i = q.front(), y = i / w, x = i % w;
      q.pop_front();
      if (y == 0 || x == 0 || y == h - 1 || x == w - 1) ext = true;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int64_t yy = y + dy, xx = x + dx, j = yy * w + xx;
          if ((!dy && !dx) || yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          if (m[j] && label[j] < 0) label[j] = id, q.push_back(j);
          if (!m[j] && outside[j] && (!dy || !dx)) ext = true;
        }
    }
    external.push_back(ext);
  }
  return {label, external};
}

int64_t cross(const std::pair<int64_t, int64_t>& o, const std::pair<int64_t, int64_t>& a,
              const std::pair<int64_t, int64_t>& b) {
  return (a.first - o.first) * (b.second - o.second) - (a.second - o.second) * (b.first - o.first);
}

// Andrew's monotone chain; collinear points dropped.
Polygon convex_hull(Polygon pts) {
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  if (pts.size() < 3) return pts;
  Polygon hull(2 * pts.size());
  size_t k = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  for (size_t i = pts.size() - 1, t = k + 1; i-- > 0;) {
    while (k >= t && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  hull.resize(k - 1);
  return hull;
}

}  // namespace

std::vector<Polygon> external_hulls(const at::Tensor& mask) {
  check_mask(mask, "external_hulls");
  const at::Tensor m = mask.contiguous();
  const int64_t h = m.size(0), w = m.size(1);
  const auto [label, external] = external_components(m.data_ptr<uint8_t>(), h, w);
  std::vector<Polygon> points(external.size());
  for (int64_t i = 0; i < h * w; ++i)
    if (label[i] >= 0 && external[label[i]]) points[label[i]].emplace_back(i % w, i / w);
  std::vector<Polygon> hulls;
  for (auto& p : points)
    if (!p.empty()) hulls.push_back(convex_hull(std::move(p)));
  return hulls;
}

namespace {

// OpenCV's 8-connected LineIterator from the left end point: the major axis steps every pixel, the minor axis
// when err < 0 (err starts at major − 2·minor, then += −2·minor, + 2·major after a minor step).
void draw_line(uint8_t* img, int64_t h, int64_t w, std::pair<int64_t, int64_t> a, std::pair<int64_t, int64_t> b) {
  if (b.first < a.first) std::swap(a, b);
  const int64_t dx = b.first - a.first, dy_signed = b.second - a.second;
  const int64_t sy = dy_signed < 0 ? -1 : 1, dy = dy_signed < 0 ? -dy_signed : dy_signed;
  const bool steep = dy > dx;
  const int64_t major = steep ? dy : dx, minor = steep ? dx : dy;
  int64_t err = major - 2 * minor, x = a.first, y = a.second;
  for (int64_t i = 0; i <= major; ++i) {
    if (x >= 0 && x < w && y >= 0 && y < h) img[y * w + x] = 255;
    const bool minor_step = err < 0;
    err += -2 * minor + (minor_step ? 2 * major : 0);
    if (steep) {
      y += sy;
      if (minor_step) ++x;
    } else {
      ++x;
      if (minor_step) y += sy;
    }
  }
}

struct Edge {
  int64_t y0, y1;  // rows [y0, y1)
  int64_t x0;      // 16.16 fixed point at row y0
  int64_t dx;      // per row
};

}  // namespace

at::Tensor fill_polygons(const std::vector<Polygon>& polygons, int64_t height, int64_t width) {
  at::Tensor out = at::zeros({height, width}, at::kByte);
  uint8_t* img = out.data_ptr<uint8_t>();
  std::vector<Edge> edges;
  for (const auto& poly : polygons) {
    for (size_t i = 0; i < poly.size(); ++i) {
      auto a = poly[i], b = poly[(i + 1) % poly.size()];
      draw_line(img, height, width, a, b);
      if (a.second == b.second) continue;
      if (a.second > b.second) std::swap(a, b);
      // C++ integer division truncates toward zero, as OpenCV's.
      edges.push_back({a.second, b.second, a.first * 65536, (b.first - a.first) * 65536 / (b.second - a.second)});
    }
  }
  std::vector<int64_t> xs;
  for (int64_t y = 0; y < height; ++y) {
    xs.clear();
    for (const auto& e : edges)
      if (e.y0 <= y && y < e.y1) xs.push_back(e.x0 + (y - e.y0) * e.dx);
    std::sort(xs.begin(), xs.end());
    for (size_t i = 0; i + 1 < xs.size(); i += 2) {
      const int64_t x1 = std::max<int64_t>((xs[i] + 0xFFFF) >> 16, 0);
      const int64_t x2 = std::min<int64_t>(xs[i + 1] >> 16, width - 1);
      for (int64_t x = x1; x <= x2; ++x) img[y * width + x] = 255;
    }
  }
  return out;
}

at::Tensor dilate_square(const at::Tensor& mask, int64_t kernel, int64_t iterations) {
  check_mask(mask, "dilate_square");
  if (kernel < 1 || kernel % 2 == 0) throw ModelError("dilate_square: kernel " + std::to_string(kernel) + " must be odd");
  // Max filter with the border ignored = max pooling with −inf padding (values are ≥ 0).
  at::Tensor x = mask.to(at::kFloat).unsqueeze(0).unsqueeze(0);
  for (int64_t i = 0; i < iterations; ++i) x = at::max_pool2d(x, {kernel, kernel}, {1, 1}, {kernel / 2, kernel / 2});
  return x.squeeze(0).squeeze(0).to(at::kByte);
}

}  // namespace osor::model::train
