// FluxTransformer2DModel against diffusers on the flux_fill conformance fixture (tiny FLUX.1-Fill-shaped config,
// F32 weights under diffusers' key names; compared with the float64 run), the same weights as a sharded
// checkpoint, and the parameter counts of the full-size FLUX.1-Fill [dev] and FLUX.1 [dev] transformers built on
// the meta device.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/error.h"
#include "model/flux/flux_rope.h"
#include "model/flux/flux_transformer.h"
#include "model/io/safetensors.h"
#include "model/io/sharded_weights.h"
#include "model/nn/blocks.h"
#include "tests/model/test_flux_fixture.h"
#include "tests/test_paths.h"

namespace {

using osor::model::FluxTransformer2DModel;
using osor::model::FluxTransformerConfig;

FluxTransformerConfig fixture_config(const osor::test::ModelFixture& fx) {
  return FluxTransformerConfig::from_json(fx.json.at("config").dump(), fx.name + ".json:config");
}

std::filesystem::path full_configs() { return std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "full"; }

}  // namespace

TEST_CASE("conformance: model/flux_fill FluxTransformer2DModel matches diffusers") {
  const auto fx = osor::test::open_model_fixture("flux_fill");
  if (!fx) return;
  FluxTransformer2DModel tf(fixture_config(*fx));
  tf.load({fx->file(".weights.safetensors")});
  CHECK(tf.parameter_count() == fx->json.at("weights").at("num_params").get<int64_t>());
  const double atol = osor::test::flux_fixture_atol(*fx, *fx);
  const at::Tensor out = tf.forward(osor::test::flux_fixture_inputs(*fx));
  const double err = osor::test::max_abs_diff(out, fx->tensor("out_f64"));
  MESSAGE("flux_fill: max|out - out_f64| = " << err << " (atol " << atol << ")");
  CHECK(err <= atol);
}

TEST_CASE("conformance: model/flux_fill RoPE tables (float64 angles) equal FluxPosEmbed's cos/sin") {
  const auto fx = osor::test::open_model_fixture("flux_fill");
  if (!fx) return;
  const auto config = fixture_config(*fx);
  const at::Tensor ids = at::cat({fx->tensor("txt_ids"), fx->tensor("img_ids")}, 0);
  const auto rope = osor::model::flux::rotary_embedding(ids, config.axes_dims_rope);
  const double e_cos = osor::test::max_abs_diff(rope.cos, fx->tensor("trace.pos_embed#0"));
  const double e_sin = osor::test::max_abs_diff(rope.sin, fx->tensor("trace.pos_embed#1"));
  MESSAGE("flux_fill RoPE: max|cos err| " << e_cos << ", max|sin err| " << e_sin << " (float32 tables: <= 1 ulp, 6e-8)");
  CHECK(e_cos <= 6e-8);
  CHECK(e_sin <= 6e-8);
}

TEST_CASE("flux: in bfloat16 the transformer embeds sigma 0.4 as 400 and guidance 30 as 29952 (diffusers' rounding)") {
  const at::Tensor sigma = at::full({1}, 0.4), guidance = at::full({1}, 30.0);
  auto sinusoid = [](double v) { return osor::model::nn::timestep_embedding(at::full({1}, v, at::kFloat), 256, true, 0.0); };
  CHECK(osor::test::max_abs_diff(FluxTransformer2DModel::time_projection(sigma, at::kBFloat16), sinusoid(400.0)) == 0.0);
  CHECK(osor::test::max_abs_diff(FluxTransformer2DModel::time_projection(guidance, at::kBFloat16), sinusoid(29952.0)) == 0.0);
  CHECK(osor::test::max_abs_diff(FluxTransformer2DModel::time_projection(guidance, at::kFloat), sinusoid(30000.0)) == 0.0);
}

TEST_CASE("conformance: model/flux_fill the same weights as a sharded checkpoint (index.json) give the same output") {
  const auto fx = osor::test::open_model_fixture("flux_fill");
  if (!fx) return;
  const auto weights = osor::model::SafetensorsFile::open(fx->file(".weights.safetensors"));
  const auto dir = osor::test::process_scratch_dir("flux_fill_sharded");
  std::vector<std::pair<std::string, at::Tensor>> shards[2];
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  const auto names = weights.names();
  for (size_t i = 0; i < names.size(); ++i) {
    const int s = i < names.size() / 2 ? 0 : 1;
    shards[s].emplace_back(names[i], weights.tensor(names[i]));
    index["weight_map"][names[i]] = "diffusion_pytorch_model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
  }
  for (int s = 0; s < 2; ++s)
    osor::model::write_safetensors(dir / ("diffusion_pytorch_model-0000" + std::to_string(s + 1) + "-of-00002.safetensors"),
                                   shards[s]);
  std::ofstream(dir / "diffusion_pytorch_model.safetensors.index.json") << index.dump();
  const auto files = osor::model::diffusers_weight_files(dir);
  REQUIRE(files.size() == 2);
  FluxTransformer2DModel single(fixture_config(*fx)), sharded(fixture_config(*fx));
  single.load({fx->file(".weights.safetensors")});
  sharded.load(files);
  const auto in = osor::test::flux_fixture_inputs(*fx);
  CHECK(osor::test::max_abs_diff(single.forward(in), sharded.forward(in)) == 0.0);

  index["weight_map"][names[0]] = "../elsewhere.safetensors";
  std::ofstream(dir / "diffusion_pytorch_model.safetensors.index.json") << index.dump();
  CHECK_THROWS_WITH_AS(osor::model::diffusers_weight_files(dir), doctest::Contains(names[0].c_str()), osor::ModelError);
  index["weight_map"][names[0]] = "diffusion_pytorch_model-00002-of-00002.safetensors";  // the wrong shard
  std::ofstream(dir / "diffusion_pytorch_model.safetensors.index.json") << index.dump();
  CHECK_THROWS_WITH_AS(osor::model::diffusers_weight_files(dir), doctest::Contains("is not in its shard"),
                       osor::ModelError);
}

TEST_CASE("flux: full-size FLUX.1-Fill [dev] and FLUX.1 [dev] transformers have 11,902,391,360 and 11,901,408,320 parameters (meta device)") {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kBFloat16);
  const auto fill = FluxTransformerConfig::from_file(full_configs() / "flux-fill" / "transformer" / "config.json");
  CHECK(fill.in_channels == 384);
  CHECK(FluxTransformer2DModel(fill, meta).parameter_count() == 11902391360LL);
  // model/configs/full/flux-dev: FLUX.1 [dev] transformer/config.json, 64 input channels, out_channels null.
  const auto dev = FluxTransformerConfig::from_file(full_configs() / "flux-dev" / "transformer" / "config.json");
  CHECK(dev.in_channels == 64);
  CHECK(dev.out_channels == 64);
  FluxTransformer2DModel dev_model(dev, meta);
  CHECK(dev_model.parameter_count() == 11901408320LL);
  // OmniEraser's widened x_embedder (64 → 256 inputs): 3072 · 192 more weights, config().in_channels follows.
  dev_model.widen_x_embedder(256);
  CHECK(dev_model.parameter_count() == 11901408320LL + 3072LL * 192);
  CHECK(dev_model.config().in_channels == 256);
  CHECK(dev_model.output_features() == 64);
}

TEST_CASE("flux: config and input errors name the problem") {
  CHECK_THROWS_WITH_AS(FluxTransformerConfig::from_json(R"({"attention_head_dim": 64})", "x/config.json"),
                       doctest::Contains("x/config.json: axes_dims_rope must be"), osor::ModelError);
  CHECK_THROWS_WITH_AS(FluxTransformerConfig::from_json(R"({"_class_name": "UNet2DConditionModel"})", "x/config.json"),
                       doctest::Contains("FluxTransformer2DModel"), osor::ModelError);
  auto c = FluxTransformerConfig::from_json(
      R"({"attention_head_dim": 8, "axes_dims_rope": [2, 2, 4], "num_attention_heads": 2, "num_layers": 1,
          "num_single_layers": 1, "in_channels": 16, "joint_attention_dim": 8, "pooled_projection_dim": 4,
          "guidance_embeds": false})",
      "tiny");
  FluxTransformer2DModel tf(c);
  tf.randomize(1);
  osor::model::FluxTransformerInputs in;
  in.hidden_states = at::randn({1, 6, 16});
  in.encoder_hidden_states = at::randn({1, 3, 8});
  in.pooled_projections = at::randn({1, 4});
  in.timestep = at::full({1}, 0.5);
  in.img_ids = at::zeros({6, 3});
  in.txt_ids = at::zeros({3, 3});
  CHECK(tf.forward(in).sizes() == at::IntArrayRef({1, 6, 16}));
  in.guidance = at::full({1}, 3.5);
  CHECK_THROWS_WITH_AS(tf.forward(in), doctest::Contains("guidance_embeds false"), osor::ModelError);
  in.guidance = at::Tensor();
  in.img_ids = at::zeros({5, 3});
  CHECK_THROWS_WITH_AS(tf.forward(in), doctest::Contains("img_ids is [5,3], expected [6, 3]"), osor::ModelError);
}

TEST_CASE("conformance: model/flux_fill in bfloat16 stays within bfloat16 rounding of the float32 run with the same embedded values") {
  const auto fx = osor::test::open_model_fixture("flux_fill");
  if (!fx) return;
  FluxTransformer2DModel f32(fixture_config(*fx)), bf16(fixture_config(*fx), at::TensorOptions().dtype(at::kBFloat16));
  f32.load({fx->file(".weights.safetensors")});
  bf16.load({fx->file(".weights.safetensors")});
  auto in = osor::test::flux_fixture_inputs(*fx);
  const at::Tensor raw_bf16 = bf16.forward(in);
  const bool model_dtype = raw_bf16.scalar_type() == at::kBFloat16;
  CHECK(model_dtype);
  const at::Tensor out_bf16 = raw_bf16.to(at::kFloat);
  // The float32 run given what bfloat16 embeds: 1000·σ → 400 (σ = 0.4 or 0.400390625), 1000·g → bf16(1000·g).
  in.timestep = (in.timestep.to(at::kBFloat16) * 1000).to(at::kFloat) / 1000;
  if (in.guidance.defined()) in.guidance = (in.guidance.to(at::kBFloat16) * 1000).to(at::kFloat) / 1000;
  const at::Tensor expected = f32.forward(in);
  for (const auto& v : {in.timestep, in.guidance})
    if (v.defined())
      CHECK(osor::test::max_abs_diff(FluxTransformer2DModel::time_projection(v, at::kFloat),
                                     FluxTransformer2DModel::time_projection(v, at::kBFloat16)) == 0.0);
  const double err = osor::test::max_abs_diff(out_bf16, expected);
  const double scale = expected.abs().max().item<double>();
  MESSAGE("flux_fill bf16 vs float32: max|err| " << err << " of max|out| " << scale);
  CHECK(std::isfinite(err));
  CHECK(err <= 0.05 * scale);  // a few bfloat16 ulps (2^-8 relative) through 4 blocks
}
