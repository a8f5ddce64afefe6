#include "metrics/eight_bit.h"

#include <ATen/ATen.h>

#include "metrics/error.h"

namespace osor::metrics {

at::Tensor eight_bit_values(const at::Tensor& images) {
  if (images.scalar_type() == at::kByte) return images.to(at::kDouble);
  if (!at::isFloatingType(images.scalar_type()))
    throw MetricError("pixel metrics take uint8 or floating images in [0,1], got dtype " +
                      std::string(c10::toString(images.scalar_type())));
  // Multiply in float64 so that float32(u/255) * 255 lands within 1e-5 of the integer u.
  // In place after one conversion: large temporaries cost page faults on every call.
  return images.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true).clamp_(0.0, 1.0).mul_(255.0).round_();
}

at::Tensor luma_bt601(const at::Tensor& rgb255) {
  using at::indexing::Slice;
  const at::Tensor r = rgb255.index({Slice(), Slice(0, 1)});
  const at::Tensor g = rgb255.index({Slice(), Slice(1, 2)});
  const at::Tensor b = rgb255.index({Slice(), Slice(2, 3)});
  return r * 0.299 + g * 0.587 + b * 0.114;
}

}  // namespace osor::metrics
