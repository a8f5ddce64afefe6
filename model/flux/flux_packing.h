// FLUX latent packing and Fill conditioning (diffusers FluxFillPipeline v0.32.2 helpers; OSOR's
// osor-fluxfill generator and inference code). Pure data movement, in the tensors' own dtype and device.
//
//   pack    [B, C, h, w] → [B, (h/2)(w/2), 4C]:  packed[b, py·(w/2)+px, c·4 + dy·2 + dx] = latents[b, c, 2py+dy, 2px+dx]
//   unpack  the inverse (also OSOR's 4 alpha features → [B, 1, h, w]).
//   img_ids [(h/2)(w/2), 3] = (0, py, px) row-major;  txt_ids [T, 3] = 0.
//   Fill mask: pixel mask [B, 1, s·h, s·w] (s = vae_scale_factor, 8) → [B, s², h, w] with channel my·s + mx, then
//   packed → [B, L, 4s²] (feature (my·s + mx)·4 + dy·2 + dx).
//   Stock Fill input  = cat(pack(noisy latents), pack(masked-image latents, scaled), packed mask)  (64 + 64 + 256)
//   OSOR's input      = cat(pack(z_t), pack(z_shot: the *unmasked* image latent), packed mask)
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace osor::model::flux {

// ModelError unless latents is 4-D with even h and w.
at::Tensor pack_latents(const at::Tensor& latents);
// packed [B, (h/2)(w/2), 4C] with the latent grid size h, w (even) → [B, C, h, w].
at::Tensor unpack_latents(const at::Tensor& packed, int64_t height, int64_t width);

// FluxFillPipeline._prepare_latent_image_ids(h/2, w/2): [(h/2)(w/2), 3] = (0, row, col) on the packed grid.
at::Tensor latent_image_ids(int64_t packed_height, int64_t packed_width, at::TensorOptions options = {});
// txt_ids: zeros [length, 3].
at::Tensor text_ids(int64_t length, at::TensorOptions options = {});

// The Fill mask processor's binarisation (VaeImageProcessor do_binarize): 0 where < 0.5, else 1.
at::Tensor binarize_mask(const at::Tensor& mask);
// prepare_mask_latents' mask part: pixel mask [B, 1, s·h, s·w] → [B, (h/2)(w/2), 4·s²].
at::Tensor pack_fill_mask(const at::Tensor& pixel_mask, int64_t vae_scale_factor);

// The stock pipeline's masked_image_latents: cat(pack(masked_latents), pack_fill_mask(mask)) where
// masked_latents are the *scaled* latents of image·(1 − mask): (z − shift_factor)·scaling_factor.
at::Tensor fill_masked_image_latents(const at::Tensor& masked_latents, const at::Tensor& pixel_mask,
                                     int64_t vae_scale_factor);
// The stock transformer input: cat(pack(latents), masked_image_latents) along the features.
at::Tensor fill_transformer_input(const at::Tensor& latents, const at::Tensor& masked_image_latents);
// OSOR's transformer input: cat(pack(z_t), pack(z_shot), pack_fill_mask(mask)); z_shot is the full input image's
// latent (not the masked one), the mask binary as given (no binarisation step).
at::Tensor osor_fill_transformer_input(const at::Tensor& z_t, const at::Tensor& z_shot, const at::Tensor& pixel_mask,
                                       int64_t vae_scale_factor);

}  // namespace osor::model::flux
