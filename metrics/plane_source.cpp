#include "metrics/plane_source.h"

#include <ATen/ATen.h>

#include "metrics/error.h"

namespace osor::metrics {

at::Tensor plane_source_storage(const at::Tensor& images) {
  at::Tensor cpu = images.cpu();
  const auto type = cpu.scalar_type();
  if (type != at::kByte && !at::isFloatingType(type))
    throw MetricError("pixel metrics take uint8 or floating images in [0,1], got dtype " +
                      std::string(c10::toString(type)));
  if (type != at::kByte && type != at::kFloat && type != at::kDouble) cpu = cpu.to(at::kFloat);
  return cpu.contiguous();
}

PlaneSource plane_source(const at::Tensor& storage, int64_t index, int64_t channel, Channels channels, int64_t top,
                         int64_t left) {
  PlaneSource s;
  const int64_t h = storage.size(2), w = storage.size(3);
  const int64_t element = static_cast<int64_t>(storage.element_size());
  s.type = storage.scalar_type() == at::kByte    ? PlaneSource::Type::U8
           : storage.scalar_type() == at::kFloat ? PlaneSource::Type::F32
                                                 : PlaneSource::Type::F64;
  s.luma = channels == Channels::Luma;
  s.width = w - left;
  s.row_stride = w;
  const auto* base = static_cast<const uint8_t*>(storage.data_ptr());
  const int64_t first = (index * 3) * h * w + top * w + left;
  for (int c = 0; c < 3; ++c) {
    const int64_t plane = s.luma ? c : (c == 0 ? channel : -1);
    if (plane < 0) break;
    s.planes[c] = base + (first + plane * h * w) * element;
  }
  return s;
}

}  // namespace osor::metrics
