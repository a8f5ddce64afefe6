// OSOR's SDXL generator as the trainer runs it (DiffGANGenerator / DiffGANGeneratorEnhance,
// osor-sdxlinpainting/src/models/generator*.py and forward_generator in src/engine/train_phase{1,2}.py; spec §2.5):
//   out = UNet(z_in, t, prompt_embeds, {text_embeds: pooled, time_ids});  eps = out[:, :4];  mask_logits = out[:, 4:]
//   x0 = (z_t − √(1−ᾱ_t)·eps) / √ᾱ_t        (ᾱ_t the float32 table entry; arithmetic in the latents' dtype)
//   Phase I:  z = x0·mask_latent + z_shot·(1 − mask_latent);   Phase II: a = σ(mask_logits), z = x0·a + z_shot·(1 − a)
//   x = VAE.decode(z / scaling_factor)
// Differentiable end to end: gradients reach the UNet's trainable tensors (model/train/trainable_lora.h) through
// the frozen VAE decoder. The phase follows the UNet's conv_out (4 channels: Phase I, 5: Phase II). The batch's
// latents: model/train/batch_inputs.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "model/train/generator.h"

namespace osor::model {
class UNet2DConditionModel;
class AutoencoderKL;
class DdpmSchedule;
}  // namespace osor::model

namespace osor::model::train {

struct SdxlGenerator final : Generator {
  SdxlGenerator(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
                std::unique_ptr<DdpmSchedule> schedule, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds);
  ~SdxlGenerator() override;
  SdxlGenerator(SdxlGenerator&&) noexcept;
  SdxlGenerator& operator=(SdxlGenerator&&) noexcept;

  BatchLatents prepare(const at::Tensor& shot, const at::Tensor& mask, const at::Tensor& posterior_noise,
                       const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask) const override;
  GeneratorOutput forward(const BatchLatents& batch, int64_t t) const override;
  bool has_alpha_head() const override;  // conv_out has more than 4 channels
  int64_t latent_channels() const override;
  std::string terminal_layer_shape() const override;
  void set_gradient_checkpointing(bool enabled) override;

  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<DdpmSchedule> schedule;
  at::Tensor prompt_embeds, pooled_prompt_embeds;  // [1,T,D], [1,P]: the fixed prompt's cache
};

}  // namespace osor::model::train
