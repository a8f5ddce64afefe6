#include "model/flux/flux_rope.h"

#include <ATen/ATen.h>

#include <string>

#include "model/error.h"

namespace osor::model::flux {

RotaryEmbedding rotary_embedding(const at::Tensor& ids, const std::vector<int64_t>& axes_dims, double theta) {
  if (ids.dim() != 2 || ids.size(1) != static_cast<int64_t>(axes_dims.size()))
    throw ModelError("FLUX rotary embedding: ids must be [S, " + std::to_string(axes_dims.size()) + "], got " +
                     std::to_string(ids.dim()) + "-D with " + std::to_string(ids.dim() == 2 ? ids.size(1) : 0) +
                     " axes");
  // ids.float(), then torch.outer(float32, float64) promotes to float64.
  const at::Tensor pos = ids.to(at::kFloat).to(at::kDouble);
  const auto f64 = pos.options();
  std::vector<at::Tensor> cos, sin;
  for (size_t axis = 0; axis < axes_dims.size(); ++axis) {
    const int64_t dim = axes_dims[axis], half = dim / 2;
    const at::Tensor exponent = at::arange(0, dim, 2, f64).narrow(0, 0, half) / static_cast<double>(dim);
    const at::Tensor freqs = at::reciprocal(at::pow(theta, exponent));
    const at::Tensor angles = at::outer(pos.select(1, static_cast<int64_t>(axis)), freqs);  // [S, half]
    // repeat_interleave(2, dim=1): each frequency twice, side by side.
    auto twice = [&](const at::Tensor& t) {
      return t.unsqueeze(-1).expand({t.size(0), half, 2}).reshape({t.size(0), 2 * half});
    };
    cos.push_back(twice(angles.cos()).to(at::kFloat));
    sin.push_back(twice(angles.sin()).to(at::kFloat));
  }
  return {at::cat(cos, -1), at::cat(sin, -1)};
}

at::Tensor apply_rotary_embedding(const at::Tensor& x, const RotaryEmbedding& rope) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor pairs = xf.reshape({x.size(0), x.size(1), x.size(2), -1, 2});
  const at::Tensor rotated = at::stack({pairs.select(-1, 1).neg(), pairs.select(-1, 0)}, -1).flatten(3);
  const at::Tensor cos = rope.cos.to(x.device()), sin = rope.sin.to(x.device());
  return (xf * cos + rotated * sin).to(x.scalar_type());
}

}  // namespace osor::model::flux
