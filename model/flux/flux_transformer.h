// diffusers FluxTransformer2DModel (v0.32.2) as FLUX.1 [dev] / [schnell] / Fill [dev] configure it, built from its
// transformer/config.json and registered under diffusers' parameter names (x_embedder, context_embedder,
// time_text_embed.{timestep,guidance,text}_embedder.linear_{1,2}, transformer_blocks.i.{norm1, norm1_context,
// attn.{to_q, ..., add_q_proj, ..., to_out.0, to_add_out, norm_q, norm_k, norm_added_q, norm_added_k}, ff,
// ff_context}, single_transformer_blocks.i.{norm, proj_mlp, proj_out, attn.{to_q, to_k, to_v, norm_q, norm_k}},
// norm_out.linear, proj_out), so the published diffusion_pytorch_model*.safetensors load strictly, single-file
// or sharded. The original BFL single-file checkpoint (flux1-fill-dev.safetensors: img_in, double_blocks.*,
// single_blocks.*, final_layer, ...) loads too, converted at load time (model/flux/bfl_key_names.h).
//
// Forward (spec/model.md §4.2): temb = timestep_embedder(sinusoid(1000·t)) [+ guidance_embedder(sinusoid(1000·g))]
// + text_embedder(pooled); 1000·t and 1000·g are computed in the model dtype (diffusers' `timestep.to(dtype) *
// 1000`: in bfloat16 that is 400 for σ = 0.4 and 29952 for g = 30, OSOR's production numbers); the sinusoids in
// float32. RoPE from cat(txt_ids, img_ids); num_layers double blocks over (image, text); num_single_layers single
// blocks over [text; image]; AdaLayerNormContinuous and proj_out on the image tokens.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model {

class DiffusersConfig;

struct FluxTransformerConfig {
  int64_t patch_size = 1, in_channels = 64, out_channels = 64, num_layers = 19, num_single_layers = 38;
  int64_t attention_head_dim = 128, num_attention_heads = 24, joint_attention_dim = 4096, pooled_projection_dim = 768;
  bool guidance_embeds = false;
  std::vector<int64_t> axes_dims_rope = {16, 56, 56};  // Σ = attention_head_dim

  int64_t inner_dim() const { return attention_head_dim * num_attention_heads; }
  // Reads diffusers' config.json (out_channels null → in_channels); ModelError on settings this port cannot run.
  static FluxTransformerConfig from_config(const DiffusersConfig& config);
  static FluxTransformerConfig from_json(const std::string& text, const std::string& source);
  static FluxTransformerConfig from_file(const std::filesystem::path& path);
};

// The transformer's inputs, named as diffusers' forward() arguments.
struct FluxTransformerInputs {
  at::Tensor hidden_states;          // [B, L, in_channels] packed image tokens (Fill: 64 latent + 320 conditioning)
  at::Tensor encoder_hidden_states;  // [B, T, joint_attention_dim] T5 embeddings
  at::Tensor pooled_projections;     // [B, pooled_projection_dim] CLIP pooled embedding
  at::Tensor timestep;               // [B] or [] σ in [0, 1] (the model multiplies by 1000)
  at::Tensor img_ids;                // [L, 3] (or [1, L, 3]: the first entry is used, as diffusers)
  at::Tensor txt_ids;                // [T, 3]
  at::Tensor guidance;               // [B] or [] (the model multiplies by 1000); needed iff guidance_embeds
  // false (diffusers): 1000·t and 1000·g in the model dtype (bf16: 400 and 29952 for OSOR's 0.4 and 30).
  // true: in float32 whatever the model dtype (400 and 30000), an exact-arithmetic option for low-precision runs.
  bool time_in_float32 = false;
};

// OminiControl's condition tokens (OmniPaint's src/flux_core.py::tranformer_forward): packed condition-image
// tokens appended to the sequence with their own ids and timestep. They pass x_embedder and every image-stream
// layer of every block, modulated by temb(condition timestep, guidance, pooled), and attend jointly with the text
// and image tokens ([text; image; condition]); they are dropped before norm_out. Runtime LoRA adapters act on the
// condition tokens everywhere, but are off for the image/text tokens on x_embedder, norm1.linear, to_q/k/v,
// to_out.0, ff.net.2 (double blocks) and norm.linear, proj_mlp, to_q/k/v, proj_out (single blocks): OminiControl's
// `latent_lora` false, its default. Adapters elsewhere (context/text layers, ff.net.0.proj, norm_out, proj_out)
// act on all tokens. Merged adapters cannot be told apart from the weights: attach them at runtime.
struct FluxConditionTokens {
  at::Tensor hidden_states;  // [B, Lc, in_channels]
  at::Tensor ids;            // [Lc, 3]
  double timestep = 0.0;     // OminiControl's c_t (0: the condition is "clean")
};

class FluxTransformer2DModel {
 public:
  // Parameters created with `options` (the `meta` device builds without allocating), uninitialised.
  explicit FluxTransformer2DModel(const FluxTransformerConfig& config,
                                  at::TensorOptions options = at::TensorOptions().dtype(at::kFloat));
  ~FluxTransformer2DModel();
  FluxTransformer2DModel(FluxTransformer2DModel&&) noexcept;
  FluxTransformer2DModel& operator=(FluxTransformer2DModel&&) noexcept;

  // [B, L, proj_out features] in the model dtype (patch_size²·out_channels, or 68 once OSOR's alpha head is loaded).
  // Differentiable with respect to tensors that require gradients (the trainer's); inference holds a no-grad guard.
  at::Tensor forward(const FluxTransformerInputs& inputs) const;
  // The same with condition tokens (FluxConditionTokens): the image tokens' output only.
  at::Tensor forward(const FluxTransformerInputs& inputs, const FluxConditionTokens& condition) const;

  // Gradient checkpointing (diffusers' enable_gradient_checkpointing; model/nn/activation_checkpoint.h): while grad
  // mode is on, each double and single block keeps no activations and is recomputed in backward (both forward
  // overloads): less memory, one more forward of the blocks, the same values and gradients. Off by default;
  // inference (grad mode off) is unaffected.
  void set_gradient_checkpointing(bool enabled);
  bool gradient_checkpointing() const;

  // The sinusoid [N, 256] the model embeds for σ (or g): Timesteps(256, flip_sin_to_cos, shift 0) of
  // (value in `dtype`)·1000, in float32.
  static at::Tensor time_projection(const at::Tensor& value, at::ScalarType dtype);

  const FluxTransformerConfig& config() const;
  int64_t output_features() const;  // proj_out's rows
  at::TensorOptions options() const;
  // Strict, diffusers key names; the files of a sharded checkpoint together (model/io/sharded_weights.h). BFL's key
  // names (one file or shards) are detected and converted (model/flux/bfl_key_names.h), and a prefix
  // `model.diffusion_model.` / `diffusion_model.` on every key (ComfyUI-style single files) is removed.
  void load(const std::vector<std::filesystem::path>& files);
  void randomize(uint64_t seed);
  // x_embedder widened to `in_channels` input features: the old columns kept, the new ones zero (OmniEraser's
  // test_control_lora_flux.py, diffusers' Flux Control LoRA expansion); config().in_channels follows, out_channels
  // stays.
  void widen_x_embedder(int64_t in_channels);
  int64_t parameter_count() const;
  torch::nn::Module& module();

 private:
  at::Tensor time_embedding(const at::Tensor& timestep, const FluxTransformerInputs& inputs, int64_t batch) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osor::model
