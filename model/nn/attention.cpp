#include "model/nn/attention.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>

namespace osor::model::nn {

at::Tensor chunked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             int64_t max_score_elements) {
  const int64_t batch = q.size(0), heads = q.size(1), lq = q.size(2), lk = k.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  at::Tensor out = at::empty({batch, heads, lq, v.size(3)}, q.options());
  const int64_t block = std::max<int64_t>(1, std::min(lq, max_score_elements / std::max<int64_t>(1, lk)));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const at::Tensor kh = k[b][h], vh = v[b][h];
      for (int64_t start = 0; start < lq; start += block) {
        const int64_t len = std::min(block, lq - start);
        const at::Tensor scores = at::matmul(q[b][h].narrow(0, start, len), kh.transpose(0, 1)) * scale;
        out[b][h].narrow(0, start, len).copy_(at::matmul(at::softmax(scores, -1), vh));
      }
    }
  }
  return out;
}

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  return chunked_attention(q, k, v);
#endif
}

}  // namespace osor::model::nn
