// UNet2DConditionModel against diffusers on the sdxl_unet conformance fixture (tiny SDXL-inpainting-shaped
// config: case a takes the upsample_size path, case b plain ×2), and the parameter count of the full-size
// SDXL-inpainting UNet built from its config on the meta device.
#include <doctest/doctest.h>

#include "model/error.h"
#include "model/unet/unet_2d_condition.h"
#include "tests/model/test_osor_fixture.h"

namespace {

// Fields of diffusers/stable-diffusion-xl-1.0-inpainting-0.1 unet/config.json (spec §2.1).
constexpr const char* kSdxlInpaintUNetConfig = R"({
  "_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
  "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
  "block_out_channels": [320, 640, 1280], "center_input_sample": false, "class_embed_type": null,
  "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": 2048,
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "downsample_padding": 1,
  "dual_cross_attention": false, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 9,
  "layers_per_block": 2, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
  "norm_eps": 1e-05, "norm_num_groups": 32, "num_attention_heads": null, "out_channels": 4,
  "projection_class_embeddings_input_dim": 2816, "resnet_time_scale_shift": "default", "sample_size": 128,
  "time_embedding_type": "positional", "transformer_layers_per_block": [1, 2, 10],
  "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": null,
  "use_linear_projection": true})";

}  // namespace

TEST_CASE("conformance: model/sdxl_unet UNet2DConditionModel matches diffusers on every case") {
  const auto fx = osor::test::open_model_fixture("sdxl_unet");
  if (!fx) return;
  const auto config = osor::model::UNetConfig::from_json(fx->json.at("config").dump(), "sdxl_unet.json:config");
  osor::model::UNet2DConditionModel unet(config);
  unet.load({fx->file(".weights.safetensors")});
  const double atol = fx->json.at("tolerance").at("atol").get<double>();
  const auto& cases = fx->json.at("io").at("cases");
  REQUIRE(!cases.empty());
  for (const auto& item : cases.items()) {
    const std::string c = item.key();
    const at::Tensor out = unet.forward(fx->tensor(c + ".sample"), fx->tensor(c + ".timestep"),
                                        fx->tensor(c + ".encoder_hidden_states"), fx->tensor(c + ".text_embeds"),
                                        fx->tensor(c + ".time_ids"));
    const double err = osor::test::max_abs_diff(out, fx->tensor(c + ".out_f64"));
    MESSAGE("sdxl_unet case " << c << ": max|out - out_f64| = " << err << " (atol " << atol << ")");
    CHECK(err <= atol);
  }
}

TEST_CASE("unet: full-size SDXL-inpainting UNet has 2,567,478,084 parameters (meta device)") {
  const auto config = osor::model::UNetConfig::from_json(kSdxlInpaintUNetConfig, "sdxl-inpainting unet/config.json");
  osor::model::UNet2DConditionModel unet(config, at::TensorOptions().device(at::kMeta).dtype(at::kFloat));
  CHECK(unet.parameter_count() == 2567478084LL);
  auto base = config;
  base.in_channels = 4;  // SDXL-base: the reference count without the 5 inpainting input channels
  CHECK(osor::model::UNet2DConditionModel(base, at::TensorOptions().device(at::kMeta)).parameter_count() ==
        2567463684LL);
}

TEST_CASE("unet: unsupported config settings are named in the error") {
  CHECK_THROWS_WITH_AS(osor::model::UNetConfig::from_json(R"({"act_fn": "gelu"})", "x/config.json"),
                       "UNet config x/config.json: act_fn gelu is not supported", osor::ModelError);
}
