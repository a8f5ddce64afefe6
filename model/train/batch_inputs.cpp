#include "model/train/batch_inputs.h"

#include <ATen/ATen.h>

#include "model/error.h"
#include "model/schedulers/ddpm.h"
#include "model/train/reconstruction_loss.h"
#include "model/vae/autoencoder_kl.h"

namespace osor::model::train {

BatchLatents prepare_batch_latents(const AutoencoderKL& vae, const DdpmSchedule& schedule, const at::Tensor& shot,
                                   const at::Tensor& mask, const at::Tensor& posterior_noise,
                                   const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask) {
  if (shot.dim() != 4 || shot.size(2) % 8 || shot.size(3) % 8)
    throw ModelError("prepare_batch_latents: images must be [B,3,H,W] with H, W multiples of 8, got " +
                     c10::str(shot.sizes()));
  BatchLatents b;
  const Posterior posterior = vae.encode(shot);
  b.posterior_mean = posterior.mean;
  b.posterior_std = posterior.std;
  b.z_shot = posterior.sample(posterior_noise.to(posterior.mean.options())) * vae.config().scaling_factor;
  b.noise = eps_noise.to(b.z_shot.options());
  b.mask_latent = latent_mask(mask.to(b.z_shot.options()));
  if (gt_mask.defined()) b.gt_mask_latent = latent_mask(gt_mask.to(b.z_shot.options()));
  b.z_t = schedule.add_noise(b.z_shot, b.noise, t);
  b.z_in = at::cat({b.z_t, b.mask_latent, b.z_shot}, 1);
  const double h = static_cast<double>(shot.size(2)), w = static_cast<double>(shot.size(3));
  // Made in float64 and cast (whole numbers: exact in every float dtype; at::tensor has no bfloat16 CPU kernel).
  b.time_ids = at::tensor({h, w, 0.0, 0.0, h, w}, at::TensorOptions().dtype(at::kDouble))
                   .to(b.z_shot.options())
                   .repeat({shot.size(0), 1});
  return b;
}

}  // namespace osor::model::train
