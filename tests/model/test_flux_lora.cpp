// OSOR's LoRA + 68-feature alpha head on the FLUX transformer against OSOR's FluxGeneratorEnhance (real PEFT 0.14)
// on the flux_fill_osor fixture: merged and runtime adapters, and adapters disabled.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "model/error.h"
#include "model/flux/flux_lora.h"
#include "model/flux/flux_transformer.h"
#include "model/io/safetensors.h"
#include "tests/model/test_flux_fixture.h"

namespace {

using osor::model::FluxTransformer2DModel;

struct OsorFluxFixture {
  osor::test::ModelFixture osor, base;
};

std::optional<OsorFluxFixture> open_fixtures() {
  auto osor = osor::test::open_model_fixture("flux_fill_osor");
  if (!osor) return std::nullopt;
  auto base = osor::test::open_model_fixture("flux_fill");
  if (!base) return std::nullopt;
  return OsorFluxFixture{std::move(*osor), std::move(*base)};
}

FluxTransformer2DModel base_transformer(const osor::test::ModelFixture& base) {
  FluxTransformer2DModel tf(osor::model::FluxTransformerConfig::from_json(base.json.at("config").dump(), "flux_fill.json:config"));
  tf.load({base.file(".weights.safetensors")});
  return tf;
}

}  // namespace

TEST_CASE("conformance: model/flux_fill_osor OSOR LoRA + alpha head match PEFT (merged and runtime)") {
  const auto fx = open_fixtures();
  if (!fx) return;
  const double atol = osor::test::flux_fixture_atol(fx->osor, fx->base);
  const auto checkpoint = osor::model::SafetensorsFile::open(fx->osor.file(".lora.safetensors"));
  const auto& lora_json = fx->osor.json.at("lora");
  const at::Tensor v_pred = fx->osor.tensor("v_pred_f64"), alpha_logits = fx->osor.tensor("alpha_logits_f64");
  const int64_t v_features = v_pred.size(2), alpha_features = alpha_logits.size(2);
  for (const bool merge : {true, false}) {
    FluxTransformer2DModel tf = base_transformer(fx->base);
    osor::model::LoraOptions options;
    options.merge = merge;
    const auto report = osor::model::apply_osor_checkpoint(tf, checkpoint, options);
    CHECK(report.wrapped_modules == lora_json.at("num_wrapped_modules").get<int64_t>());
    CHECK(report.rank == lora_json.at("rank").get<int64_t>());
    CHECK(report.scaling == doctest::Approx(lora_json.at("scaling").get<double>()));
    CHECK(report.output_channels == v_features + alpha_features);
    CHECK(tf.output_features() == v_features + alpha_features);
    const at::Tensor out = tf.forward(osor::test::flux_fixture_inputs(fx->osor));
    const double e_v = osor::test::max_abs_diff(out.narrow(2, 0, v_features), v_pred);
    const double e_a = osor::test::max_abs_diff(out.narrow(2, v_features, alpha_features), alpha_logits);
    MESSAGE(std::string(merge ? "merged" : "runtime") << ": max|v_pred err| " << e_v << ", max|alpha_logits err| "
                                                      << e_a << " (atol " << atol << ")");
    CHECK(e_v <= atol);
    CHECK(e_a <= atol);
  }
}

TEST_CASE("conformance: model/flux_fill_osor adapters disabled give the base transformer with the widened proj_out") {
  const auto fx = open_fixtures();
  if (!fx) return;
  const double atol = osor::test::flux_fixture_atol(fx->osor, fx->base);
  FluxTransformer2DModel tf = base_transformer(fx->base);
  osor::model::LoraOptions options;
  options.enable_adapters = false;
  const auto report = osor::model::apply_osor_checkpoint(
      tf, osor::model::SafetensorsFile::open(fx->osor.file(".lora.safetensors")), options);
  CHECK(report.wrapped_modules == 0);
  const double err = osor::test::max_abs_diff(tf.forward(osor::test::flux_fixture_inputs(fx->osor)),
                                              fx->osor.tensor("alpha68_nolora.out_f64"));
  MESSAGE("flux_fill_osor no-LoRA widened output max|err| " << err << " (atol " << atol << ")");
  CHECK(err <= atol);
}

TEST_CASE("conformance: model/flux_fill a LoRA key naming no transformer layer is an error that names it, widen_proj_out keeps the old rows") {
  const auto fx = osor::test::open_model_fixture("flux_fill");
  if (!fx) return;
  FluxTransformer2DModel tf = base_transformer(*fx);
  const std::map<std::string, at::Tensor> bad{
      {"transformer.base_model.model.transformer_blocks.0.attn.nope.lora_A.default.weight", at::zeros({4, 8})},
      {"transformer.base_model.model.transformer_blocks.0.attn.nope.lora_B.default.weight", at::zeros({8, 4})}};
  CHECK_THROWS_WITH_AS(osor::model::apply_osor_checkpoint(tf, bad, "bad.safetensors"),
                       doctest::Contains("transformer_blocks.0.attn.nope.lora_A.default.weight"), osor::ModelError);
  const auto in = osor::test::flux_fixture_inputs(*fx);
  const at::Tensor before = tf.forward(in);
  const int64_t features = before.size(2);
  osor::model::widen_proj_out(tf, features + 4, 0);
  const at::Tensor after = tf.forward(in);
  REQUIRE(after.size(2) == features + 4);
  CHECK(osor::test::max_abs_diff(after.narrow(2, 0, features), before) == 0.0);
}

TEST_CASE("conformance: model/flux_fill_osor the same adapters under diffusers' LoRA key names give the same output") {
  const auto fx = open_fixtures();
  if (!fx) return;
  // diffusers' save_lora_weights names (transformer.<path>.lora_{A,B}.weight, no adapter name), as published FLUX
  // LoRAs are: the loader strips the prefix and treats `.default` as optional, so they load as OSOR's keys do.
  const auto checkpoint = osor::model::SafetensorsFile::open(fx->osor.file(".lora.safetensors"));
  std::map<std::string, at::Tensor> renamed;
  int64_t lora_tensors = 0;
  for (const auto& name : checkpoint.names()) {
    std::string key = name;
    const std::string peft = "transformer.base_model.model.", adapter = ".default.weight";
    if (key.rfind(peft, 0) == 0) key = "transformer." + key.substr(peft.size());
    const auto at = key.find(adapter);
    if (at != std::string::npos) {
      key = key.substr(0, at) + ".weight";
      ++lora_tensors;
    }
    renamed[key] = checkpoint.tensor(name);
  }
  REQUIRE(lora_tensors > 0);
  FluxTransformer2DModel original = base_transformer(fx->base), diffusers_named = base_transformer(fx->base);
  const auto a = osor::model::apply_osor_checkpoint(original, checkpoint);
  const auto b = osor::model::apply_osor_checkpoint(diffusers_named, renamed, "diffusers-named copy");
  CHECK(a.wrapped_modules == b.wrapped_modules);
  CHECK(b.wrapped_modules == lora_tensors / 2);
  const auto in = osor::test::flux_fixture_inputs(fx->osor);
  CHECK(osor::test::max_abs_diff(original.forward(in), diffusers_named.forward(in)) == 0.0);
}
