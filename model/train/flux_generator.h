// OSOR's FLUX generator as the trainer runs it (osor-fluxfill/src/models/generator{,_enhance}.py,
// prepare_batch_inputs and forward_generator in src/engine/train_phase{1,2}.py; spec §1.2, §4.3–4.5):
//   prepare  z_shot = (VAE posterior sample of shot − shift_factor)·scaling_factor          [B,16,h,w]
//            noise  = the ε draw viewed as [B, L, 64] (upstream's randn_like(packed latents): the same numbers in
//                     the same order), z_t = (1 − σ)·pack(z_shot) + σ·noise, σ = model_t/1000 as a double (0.4)
//            z_in   = [z_t | pack(z_shot) | pack_fill_mask(mask)] (the *unmasked* input latent), img_ids of the
//                     packed grid; mask_latent = max_pool 8 of the input mask, gt_mask_latent of gt_mask
//   forward  out = transformer(z_in, timestep = σ in the model dtype (bf16: 0.400390625), guidance 30 (float32),
//                  prompt cache, txt_ids 0);  v = out[..., :64];  mask_logits = unpack(out[..., 64:68]) (Phase II)
//            x0 = unpack(z_t − timestep·v);  blend in unscaled VAE space with α = σ(mask_logits) (Phase II) or
//            the latent mask (Phase I);  x = VAE.decode(x0/scale + shift blended with z_shot/scale + shift)
// Differentiable with respect to the transformer's trainable tensors (runtime LoRA adapters and proj_out,
// model/train/trainable_lora.h with the prefix "transformer.base_model.model."). The phase follows proj_out's
// rows (64: Phase I, 68: Phase II).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/train/generator.h"

namespace osor::model {
class FluxTransformer2DModel;
class AutoencoderKL;
}  // namespace osor::model

namespace osor::model::train {

// OSOR's FLUX target list (osor-fluxfill configs/phase{1,2}.yaml lora.modules; its last entry matches nothing).
std::vector<std::string> flux_lora_targets();

struct FluxGenerator final : Generator {
  FluxGenerator(std::unique_ptr<FluxTransformer2DModel> transformer, std::unique_ptr<AutoencoderKL> vae,
                at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds, double guidance = 30.0);
  ~FluxGenerator() override;
  FluxGenerator(FluxGenerator&&) noexcept;
  FluxGenerator& operator=(FluxGenerator&&) noexcept;

  BatchLatents prepare(const at::Tensor& shot, const at::Tensor& mask, const at::Tensor& posterior_noise,
                       const at::Tensor& eps_noise, int64_t t, const at::Tensor& gt_mask) const override;
  GeneratorOutput forward(const BatchLatents& batch, int64_t t) const override;
  bool has_alpha_head() const override;  // proj_out has more rows than out_channels
  int64_t latent_channels() const override;
  std::string terminal_layer_shape() const override;
  void set_gradient_checkpointing(bool enabled) override;

  std::unique_ptr<FluxTransformer2DModel> transformer;
  std::unique_ptr<AutoencoderKL> vae;
  at::Tensor prompt_embeds, pooled_prompt_embeds;  // [1,T,joint_attention_dim], [1,pooled_projection_dim]
  double guidance = 30.0;                          // model.guidance_scale
};

}  // namespace osor::model::train
