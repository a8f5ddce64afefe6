#include "model/flux/flux_packing.h"

#include <ATen/ATen.h>

#include <string>

#include "model/error.h"

namespace osor::model::flux {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

at::Tensor pack_latents(const at::Tensor& latents) {
  if (latents.dim() != 4 || latents.size(2) % 2 != 0 || latents.size(3) % 2 != 0)
    throw ModelError("FLUX packing: latents are " + shape_text(latents) + ", expected [B, C, h, w] with even h and w");
  const int64_t b = latents.size(0), c = latents.size(1), h = latents.size(2) / 2, w = latents.size(3) / 2;
  return latents.reshape({b, c, h, 2, w, 2}).permute({0, 2, 4, 1, 3, 5}).reshape({b, h * w, c * 4});
}

at::Tensor unpack_latents(const at::Tensor& packed, int64_t height, int64_t width) {
  if (packed.dim() != 3 || height % 2 != 0 || width % 2 != 0 || packed.size(1) != (height / 2) * (width / 2) ||
      packed.size(2) % 4 != 0)
    throw ModelError("FLUX unpacking: tokens " + shape_text(packed) + " do not fit a " + std::to_string(height) + "x" +
                     std::to_string(width) + " latent grid (even sides, (h/2)(w/2) tokens of 4C features)");
  const int64_t b = packed.size(0), c = packed.size(2) / 4, h = height / 2, w = width / 2;
  return packed.reshape({b, h, w, c, 2, 2}).permute({0, 3, 1, 4, 2, 5}).reshape({b, c, height, width});
}

at::Tensor latent_image_ids(int64_t packed_height, int64_t packed_width, at::TensorOptions options) {
  const at::TensorOptions opts = options.has_dtype() ? options : options.dtype(at::kFloat);
  const at::Tensor rows = at::arange(packed_height, opts).unsqueeze(1).expand({packed_height, packed_width});
  const at::Tensor cols = at::arange(packed_width, opts).unsqueeze(0).expand({packed_height, packed_width});
  return at::stack({at::zeros({packed_height, packed_width}, opts), rows, cols}, -1).reshape({-1, 3});
}

at::Tensor text_ids(int64_t length, at::TensorOptions options) {
  return at::zeros({length, 3}, options.has_dtype() ? options : options.dtype(at::kFloat));
}

at::Tensor binarize_mask(const at::Tensor& mask) { return (mask >= 0.5).to(mask.scalar_type()); }

at::Tensor pack_fill_mask(const at::Tensor& pixel_mask, int64_t s) {
  if (pixel_mask.dim() != 4 || pixel_mask.size(1) != 1 || s < 1 || pixel_mask.size(2) % (2 * s) != 0 ||
      pixel_mask.size(3) % (2 * s) != 0)
    throw ModelError("FLUX Fill mask: " + shape_text(pixel_mask) + " is not [B, 1, H, W] with H and W multiples of " +
                     std::to_string(2 * s) + " (2 x vae_scale_factor)");
  const int64_t b = pixel_mask.size(0), h = pixel_mask.size(2) / s, w = pixel_mask.size(3) / s;
  const at::Tensor grid = pixel_mask.select(1, 0).reshape({b, h, s, w, s}).permute({0, 2, 4, 1, 3}).reshape({b, s * s, h, w});
  return pack_latents(grid);
}

at::Tensor fill_masked_image_latents(const at::Tensor& masked_latents, const at::Tensor& pixel_mask,
                                     int64_t vae_scale_factor) {
  const at::Tensor mask = pack_fill_mask(pixel_mask, vae_scale_factor).to(masked_latents.scalar_type());
  return at::cat({pack_latents(masked_latents), mask}, 2);
}

at::Tensor fill_transformer_input(const at::Tensor& latents, const at::Tensor& masked_image_latents) {
  return at::cat({pack_latents(latents), masked_image_latents.to(latents.scalar_type())}, 2);
}

at::Tensor osor_fill_transformer_input(const at::Tensor& z_t, const at::Tensor& z_shot, const at::Tensor& pixel_mask,
                                       int64_t vae_scale_factor) {
  const auto dtype = z_t.scalar_type();
  const at::Tensor mask = pack_fill_mask(pixel_mask, vae_scale_factor).to(dtype);
  return at::cat({pack_latents(z_t), pack_latents(z_shot.to(dtype)), mask}, 2);
}

}  // namespace osor::model::flux
