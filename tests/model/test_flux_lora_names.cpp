// Generic FLUX LoRA key layouts (model/flux/flux_lora_names.h) on the tiny FLUX.1 [dev] transformer: a kohya-named
// file (BFL modules, fused qkv / linear1 lora_up split, per-module alpha, final_layer's halves swapped) merges to the
// same weights as its diffusers/PEFT-named equivalent, and to W + (alpha/r)·B·A computed here.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "model/error.h"
#include "model/flux/flux_lora_names.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "tests/test_paths.h"

using osor::model::FluxTransformer2DModel;
using osor::model::FluxTransformerConfig;

namespace {

FluxTransformerConfig tiny_dev() {
  return FluxTransformerConfig::from_file(std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny" / "flux-dev" /
                                          "transformer" / "config.json");
}

at::Tensor randn(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

at::Tensor param(FluxTransformer2DModel& tf, const std::string& name) {
  return tf.module().named_parameters()[name].clone();
}

struct TwoLayouts {
  std::map<std::string, at::Tensor> kohya, peft;
};

// r = 2; kohya alphas 4 (scale 2) and 1 (scale 0.5), none on the others (scale 1); the PEFT twin has B·scale.
TwoLayouts two_layouts(int64_t d, int64_t in_channels) {
  TwoLayouts t;
  const at::Tensor qkv_down = randn({2, d}, 1), qkv_up = randn({3 * d, 2}, 2);
  const at::Tensor l1_down = randn({2, d}, 3), l1_up = randn({7 * d, 2}, 4);
  const at::Tensor ada_down = randn({2, d}, 5), ada_up = randn({2 * d, 2}, 6);
  const at::Tensor in_down = randn({2, in_channels}, 7), in_up = randn({d, 2}, 8);
  const std::string k = "lora_unet_";
  t.kohya = {{k + "double_blocks_0_img_attn_qkv.lora_down.weight", qkv_down},
             {k + "double_blocks_0_img_attn_qkv.lora_up.weight", qkv_up},
             {k + "double_blocks_0_img_attn_qkv.alpha", at::scalar_tensor(4.0)},
             {k + "single_blocks_1_linear1.lora_down.weight", l1_down},
             {k + "single_blocks_1_linear1.lora_up.weight", l1_up},
             {k + "single_blocks_1_linear1.alpha", at::scalar_tensor(1.0)},
             {k + "final_layer_adaLN_modulation_1.lora_down.weight", ada_down},
             {k + "final_layer_adaLN_modulation_1.lora_up.weight", ada_up},
             {k + "img_in.lora_down.weight", in_down},
             {k + "img_in.lora_up.weight", in_up},
             {"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", randn({2, 4}, 9)}};
  const std::string p = "transformer.";
  auto add = [&](const std::string& module, const at::Tensor& down, const at::Tensor& up) {
    t.peft[p + module + ".lora_A.weight"] = down;
    t.peft[p + module + ".lora_B.weight"] = up;
  };
  const char* qkv[] = {"to_q", "to_k", "to_v"};
  for (int i = 0; i < 3; ++i)
    add(std::string("transformer_blocks.0.attn.") + qkv[i], qkv_down, qkv_up.narrow(0, i * d, d) * 2.0);
  for (int i = 0; i < 3; ++i)
    add(std::string("single_transformer_blocks.1.attn.") + qkv[i], l1_down, l1_up.narrow(0, i * d, d) * 0.5);
  add("single_transformer_blocks.1.proj_mlp", l1_down, l1_up.narrow(0, 3 * d, 4 * d) * 0.5);
  add("norm_out.linear", ada_down, at::cat({ada_up.narrow(0, d, d), ada_up.narrow(0, 0, d)}, 0));
  add("x_embedder", in_down, in_up);
  return t;
}

}  // namespace

TEST_CASE("flux lora names: a kohya LoRA merges like its diffusers/PEFT-named twin and like W + (alpha/r)·B·A") {
  const FluxTransformerConfig c = tiny_dev();
  const int64_t d = c.inner_dim();
  FluxTransformer2DModel base(c), kohya(c), peft(c);
  for (auto* tf : {&base, &kohya, &peft}) tf->randomize(21);
  const TwoLayouts files = two_layouts(d, c.in_channels);
  const auto k_file = osor::model::read_flux_lora(files.kohya, d, "kohya.safetensors");
  CHECK(k_file.adapters.size() == 9);  // q, k, v + q, k, v, mlp + norm_out + x_embedder
  CHECK(k_file.skipped_text_encoder == 1);
  const auto k_report = osor::model::apply_flux_lora(kohya, k_file, "kohya.safetensors");
  CHECK(k_report.wrapped_modules == 9);
  osor::model::apply_flux_lora(peft, osor::model::read_flux_lora(files.peft, d, "peft.safetensors"), "peft.safetensors");
  for (const auto& item : base.module().named_parameters()) {
    CAPTURE(item.key());
    CHECK(at::allclose(param(kohya, item.key()), param(peft, item.key()), 1e-6, 1e-6));
  }
  // One by hand: to_k of double block 0 gets 2 · up[d:2d] · down.
  const at::Tensor expected = param(base, "transformer_blocks.0.attn.to_k.weight") +
                              2.0 * at::matmul(files.kohya.at("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight").narrow(0, d, d),
                                               files.kohya.at("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight"));
  CHECK(at::allclose(param(kohya, "transformer_blocks.0.attn.to_k.weight"), expected, 1e-6, 1e-6));
  CHECK(!at::allclose(param(kohya, "norm_out.linear.weight"), param(base, "norm_out.linear.weight"), 1e-4, 1e-4));
}

TEST_CASE("flux lora names: runtime adapters from a kohya file give the merged result, bad keys are named") {
  const FluxTransformerConfig c = tiny_dev();
  const int64_t d = c.inner_dim();
  FluxTransformer2DModel merged(c), runtime(c);
  merged.randomize(5);
  runtime.randomize(5);
  const TwoLayouts files = two_layouts(d, c.in_channels);
  osor::model::LoraOptions at_runtime;
  at_runtime.merge = false;
  osor::model::apply_flux_lora(merged, osor::model::read_flux_lora(files.kohya, d, "k"), "k");
  osor::model::apply_flux_lora(runtime, osor::model::read_flux_lora(files.kohya, d, "k"), "k", at_runtime);
  osor::model::FluxTransformerInputs in;
  in.hidden_states = randn({1, 4, c.in_channels}, 30);
  in.encoder_hidden_states = randn({1, 3, c.joint_attention_dim}, 31);
  in.pooled_projections = randn({1, c.pooled_projection_dim}, 32);
  in.timestep = at::full({1}, 0.7);
  in.guidance = at::full({1}, 3.5);
  in.img_ids = osor::model::flux::latent_image_ids(2, 2);
  in.txt_ids = osor::model::flux::text_ids(3);
  CHECK(at::allclose(merged.forward(in), runtime.forward(in), 1e-5, 1e-5));

  CHECK_THROWS_WITH_AS(osor::model::read_flux_lora({{"lora_unet_double_blocks_0_img_attn_nope.lora_down.weight",
                                                     randn({2, d}, 1)}}, d, "bad.safetensors"),
                       doctest::Contains("bad.safetensors: kohya key lora_unet_double_blocks_0_img_attn_nope"),
                       osor::ModelError);
  CHECK_THROWS_WITH_AS(osor::model::read_flux_lora({{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
                                                     randn({2, d}, 1)},
                                                    {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight",
                                                     randn({2 * d, 2}, 2)}}, d, "bad.safetensors"),
                       doctest::Contains("does not split"), osor::ModelError);
  FluxTransformer2DModel narrow(c);
  narrow.randomize(1);
  const auto wide = osor::model::read_flux_lora(
      {{"transformer.x_embedder.lora_A.weight", randn({2, 4 * c.in_channels}, 1)},
       {"transformer.x_embedder.lora_B.weight", randn({d, 2}, 2)}}, d, "eraser.safetensors");
  CHECK_THROWS_WITH_AS(osor::model::apply_flux_lora(narrow, wide, "eraser.safetensors"),
                       doctest::Contains("widened x_embedder"), osor::ModelError);
}
