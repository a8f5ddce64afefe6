// OSOR's SDXL generator as the trainer runs it (DiffGANGenerator / DiffGANGeneratorEnhance,
// osor-sdxlinpainting/src/models/generator*.py and forward_generator in src/engine/train_phase{1,2}.py; spec §2.5):
//   out = UNet(z_in, t, prompt_embeds, {text_embeds: pooled, time_ids});  eps = out[:, :4];  mask_logits = out[:, 4:]
//   x0 = (z_t − √(1−ᾱ_t)·eps) / √ᾱ_t        (ᾱ_t the float32 table entry; arithmetic in the latents' dtype)
//   Phase I:  z = x0·mask_latent + z_shot·(1 − mask_latent);   Phase II: a = σ(mask_logits), z = x0·a + z_shot·(1 − a)
//   x = VAE.decode(z / scaling_factor)
// Differentiable end to end: gradients reach the UNet's trainable tensors (model/train/trainable_lora.h) through
// the frozen VAE decoder. The phase follows the UNet's conv_out (4 channels: Phase I, 5: Phase II).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

namespace osor::model {
class UNet2DConditionModel;
class AutoencoderKL;
class DdpmSchedule;
}  // namespace osor::model

namespace osor::model::train {

struct BatchLatents;

struct GeneratorOutput {
  at::Tensor eps, mask_logits;  // mask_logits undefined in Phase I
  at::Tensor x0, decoder_input;  // decoder_input = z / scaling_factor
  at::Tensor x;                  // [B,3,H,W], the VAE decoder's output (≈ [−1, 1]), in the latents' dtype
};

struct SdxlGenerator {
  SdxlGenerator(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
                std::unique_ptr<DdpmSchedule> schedule, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds);
  ~SdxlGenerator();
  SdxlGenerator(SdxlGenerator&&) noexcept;
  SdxlGenerator& operator=(SdxlGenerator&&) noexcept;

  // The step's forward at timestep t (the phase's model_t) on prepared latents (model/train/batch_inputs.h).
  GeneratorOutput forward(const BatchLatents& batch, int64_t t) const;
  bool has_alpha_head() const;  // conv_out has more than 4 channels

  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<DdpmSchedule> schedule;
  at::Tensor prompt_embeds, pooled_prompt_embeds;  // [1,T,D], [1,P]: the fixed prompt's cache
};

}  // namespace osor::model::train
