// OSOR's prepare_batch_inputs (osor-sdxlinpainting/src/engine/batch_input.py; spec §1.2, train/README.md §3): the
// latent side of one SDXL training batch, with the random draws given (so a run can be replayed):
//   shot ∈ [−1, 1]:  z_shot = (mean + std·posterior_noise) · scaling_factor      (vae.encode(shot).latent_dist.sample())
//   mask_latent = max_pool2d(mask, 8, 8)   (Phase II: the degraded input mask; gt_mask_latent from gt_mask)
//   z_t = √ᾱ_t·z_shot + √(1 − ᾱ_t)·eps_noise      z_in = [z_t | mask_latent | z_shot]
//   time_ids = [H, W, 0, 0, H, W] per sample (pixel size; no crop)
// The VAE is frozen: nothing here carries gradients.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace osor::model {
class AutoencoderKL;
class DdpmSchedule;
}  // namespace osor::model

namespace osor::model::train {

// One batch's latent side, either backbone. FLUX (model/train/flux_generator.h) fills the same fields with its own
// layout: z_shot = (sample − shift_factor)·scaling_factor [B,C,h,w]; noise and z_t packed [B,L,4C]; z_in the
// transformer's tokens [z_t | pack(z_shot) | packed mask] [B,L,8C+256]; img_ids [L,3]; no time_ids.
struct BatchLatents {
  at::Tensor posterior_mean, posterior_std, z_shot, noise, z_t, mask_latent, z_in, time_ids;
  at::Tensor gt_mask_latent;  // defined when a gt_mask was given (Phase II)
  at::Tensor img_ids;         // FLUX: the packed grid's positions
};

BatchLatents prepare_batch_latents(const AutoencoderKL& vae, const DdpmSchedule& schedule, const at::Tensor& shot,
                                   const at::Tensor& mask, const at::Tensor& posterior_noise,
                                   const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask = {});

}  // namespace osor::model::train
