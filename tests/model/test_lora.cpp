// OSOR's LoRA + 5-channel alpha head on the SDXL UNet against OSOR's DiffGANGeneratorEnhance (real PEFT 0.14) on
// the sdxl_unet_osor fixture: merged and runtime adapters, and adapters disabled.
#include <doctest/doctest.h>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/lora.h"
#include "model/unet/unet_2d_condition.h"
#include "tests/model/test_osor_fixture.h"

namespace {

struct OsorUNetFixture {
  osor::test::ModelFixture osor, base;
};

std::optional<OsorUNetFixture> open_fixtures() {
  auto osor = osor::test::open_model_fixture("sdxl_unet_osor");
  if (!osor) return std::nullopt;
  auto base = osor::test::open_model_fixture("sdxl_unet");
  if (!base) return std::nullopt;
  return OsorUNetFixture{std::move(*osor), std::move(*base)};
}

at::Tensor run(osor::model::UNet2DConditionModel& unet, const osor::test::ModelFixture& fx) {
  return unet.forward(fx.tensor("a.sample"), fx.tensor("a.timestep"), fx.tensor("a.encoder_hidden_states"),
                      fx.tensor("a.text_embeds"), fx.tensor("a.time_ids"));
}

}  // namespace

TEST_CASE("lora: OSOR LoRA + alpha head match PEFT (merged and runtime) on the sdxl_unet_osor fixture") {
  const auto fx = open_fixtures();
  if (!fx) return;
  const auto config = osor::model::UNetConfig::from_json(fx->base.json.at("config").dump(), "sdxl_unet.json:config");
  const double atol = fx->osor.json.at("tolerance").at("atol").get<double>();
  const auto checkpoint = osor::model::SafetensorsFile::open(fx->osor.file(".lora.safetensors"));
  const auto& lora_json = fx->osor.json.at("lora");
  for (const bool merge : {true, false}) {
    osor::model::UNet2DConditionModel unet(config);
    unet.load({fx->base.file(".weights.safetensors")});
    osor::model::LoraOptions options;
    options.merge = merge;
    const auto report = osor::model::apply_osor_checkpoint(unet, checkpoint, options);
    CHECK(report.wrapped_modules == lora_json.at("num_wrapped_modules").get<int64_t>());
    CHECK(report.rank == lora_json.at("rank").get<int64_t>());
    CHECK(report.scaling == doctest::Approx(lora_json.at("scaling").get<double>()));
    CHECK(report.conv_out_channels == 5);
    const at::Tensor out = run(unet, fx->osor);
    const double e_eps = osor::test::max_abs_diff(out.narrow(1, 0, 4), fx->osor.tensor("a.eps_f64"));
    const double e_mask = osor::test::max_abs_diff(out.narrow(1, 4, 1), fx->osor.tensor("a.mask_logits_f64"));
    MESSAGE(std::string(merge ? "merged" : "runtime") << ": max|eps err| " << e_eps << ", max|mask_logits err| " << e_mask
                                           << " (atol " << atol << ")");
    CHECK(e_eps <= atol);
    CHECK(e_mask <= atol);
  }
}

TEST_CASE("lora: adapters disabled give the base UNet with the widened conv_out") {
  const auto fx = open_fixtures();
  if (!fx) return;
  const auto config = osor::model::UNetConfig::from_json(fx->base.json.at("config").dump(), "sdxl_unet.json:config");
  osor::model::UNet2DConditionModel unet(config);
  unet.load({fx->base.file(".weights.safetensors")});
  osor::model::LoraOptions options;
  options.enable_adapters = false;
  osor::model::apply_osor_checkpoint(unet, osor::model::SafetensorsFile::open(fx->osor.file(".lora.safetensors")),
                                     options);
  const double atol = fx->osor.json.at("tolerance").at("atol").get<double>();
  const double err = osor::test::max_abs_diff(run(unet, fx->osor), fx->osor.tensor("a.alpha5_nolora.out_f64"));
  MESSAGE("no-LoRA 5-channel output max|err| " << err << " (atol " << atol << ")");
  CHECK(err <= atol);
}

TEST_CASE("lora: a key naming no UNet layer is an error that names it, widen_conv_out keeps the old rows") {
  const auto fx = osor::test::open_model_fixture("sdxl_unet");
  if (!fx) return;
  const auto config = osor::model::UNetConfig::from_json(fx->json.at("config").dump(), "sdxl_unet.json:config");
  osor::model::UNet2DConditionModel unet(config);
  unet.load({fx->file(".weights.safetensors")});
  std::map<std::string, at::Tensor> bad{{"unet.mid_block.nope.lora_A.default.weight", at::zeros({4, 8})},
                                        {"unet.mid_block.nope.lora_B.default.weight", at::zeros({8, 4})}};
  CHECK_THROWS_AS(osor::model::apply_osor_checkpoint(unet, bad, "bad.safetensors"), osor::ModelError);
  const at::Tensor before = unet.forward(fx->tensor("b.sample"), fx->tensor("b.timestep"),
                                         fx->tensor("b.encoder_hidden_states"), fx->tensor("b.text_embeds"),
                                         fx->tensor("b.time_ids"));
  osor::model::widen_conv_out(unet, 5, 0);
  const at::Tensor after = unet.forward(fx->tensor("b.sample"), fx->tensor("b.timestep"),
                                        fx->tensor("b.encoder_hidden_states"), fx->tensor("b.text_embeds"),
                                        fx->tensor("b.time_ids"));
  REQUIRE(after.size(1) == 5);
  CHECK(osor::test::max_abs_diff(after.narrow(1, 0, 4), before) == 0.0);
}
