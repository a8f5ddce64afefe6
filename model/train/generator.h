// The generator side of a training step, one implementation per backbone (spec §1.2):
//   SDXL (model/train/sdxl_generator.h): DDPM ε-prediction at t, x0 = (z_t − √(1−ᾱ_t)·ε)/√ᾱ_t, blend, decode
//   FLUX (model/train/flux_generator.h): flow matching at σ = t/1000, x0 = z_t − σ·v, blend in VAE space, decode
// The trainer (model/train/trainer.h), the G step (model/train/generator_step.h) and the run's validation see only
// this interface: a batch's latents are prepared from the images and the random draws, then the forward gives the
// decoded output x (differentiable with respect to the trainable tensors) and, in Phase II, the alpha logits.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace osor::model::train {

struct BatchLatents;

struct GeneratorOutput {
  at::Tensor prediction;   // the network's output on the latent side: SDXL ε [B,4,h,w]; FLUX v [B,L,64] (packed)
  at::Tensor mask_logits;  // [B,1,h,w] on the latent grid, Phase II; undefined in Phase I
  at::Tensor x0;           // the one-step clean latent estimate [B,C,h,w] (scaled, as the network sees latents)
  at::Tensor decoder_input;  // what the VAE decodes: SDXL z / scaling_factor; FLUX the blend in unscaled VAE space
  at::Tensor x;              // [B,3,H,W], the VAE decoder's output (≈ [−1, 1]), in the latents' dtype
};

class Generator {
 public:
  virtual ~Generator() = default;

  // The latent side of one batch (OSOR's prepare_batch_inputs): `shot` in [−1, 1] [B,3,H,W], the input mask
  // [B,1,H,W] (Phase II: degraded), the ground-truth mask for the alpha target (Phase II; else undefined), and the
  // draws: `posterior_noise` and `eps_noise`, each [B, latent_channels(), H/8, W/8] standard normal.
  virtual BatchLatents prepare(const at::Tensor& shot, const at::Tensor& mask, const at::Tensor& posterior_noise,
                               const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask) const = 0;
  // The step's forward at the phase's model_t.
  virtual GeneratorOutput forward(const BatchLatents& batch, int64_t t) const = 0;

  virtual bool has_alpha_head() const = 0;     // Phase II's widened terminal layer
  virtual int64_t latent_channels() const = 0; // the VAE's latent channels (the noise draws' shape)
  virtual std::string terminal_layer_shape() const = 0;  // e.g. "conv_out of 4 channels" (error messages)
  // Activation recomputation in the backbone's blocks as diffusers' enable_gradient_checkpointing (memory for one
  // more forward of those blocks; no numeric effect: model/nn/activation_checkpoint.h).
  virtual void set_gradient_checkpointing(bool enabled) = 0;
};

}  // namespace osor::model::train
