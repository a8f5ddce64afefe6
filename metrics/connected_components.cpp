#include "metrics/connected_components.h"

#include <ATen/ATen.h>

#include <algorithm>

#include <string>

#include "metrics/error.h"

namespace osor::metrics {

ComponentLabels label_components8(const at::Tensor& mask) {
  if (mask.dim() != 2) throw MetricError("connected components: expected a [H,W] mask, got " + std::to_string(mask.dim()) + " dimensions");
  const at::Tensor m = mask.to(at::kCPU).ne(0).contiguous();
  const int64_t h = m.size(0), w = m.size(1);
  const bool* in = m.data_ptr<bool>();
  ComponentLabels out;
  out.labels = at::zeros({h, w}, at::kInt);
  int32_t* label = out.labels.data_ptr<int32_t>();
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < h * w; ++start) {
    if (!in[start] || label[start]) continue;
    const int32_t id = static_cast<int32_t>(out.sizes.size()) + 1;
    int64_t size = 0;
    label[start] = id;
    stack.push_back(start);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++size;
      const int64_t y = p / w, x = p % w;
      for (int64_t yy = std::max<int64_t>(0, y - 1); yy <= std::min(h - 1, y + 1); ++yy)
        for (int64_t xx = std::max<int64_t>(0, x - 1); xx <= std::min(w - 1, x + 1); ++xx) {
          const int64_t q = yy * w + xx;
          if (in[q] && !label[q]) {
            label[q] = id;
            stack.push_back(q);
          }
        }
    }
    out.sizes.push_back(size);
  }
  return out;
}

}  // namespace osor::metrics
