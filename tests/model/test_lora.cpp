// OSOR's LoRA + 5-channel alpha head on the SDXL UNet against OSOR's DiffGANGeneratorEnhance (real PEFT 0.14) on
// the sdxl_unet_osor fixture: merged and runtime adapters, and adapters disabled.
#include <doctest/doctest.h>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/lora.h"
#include "model/unet/unet_2d_condition.h"
#include "tests/fixture_tensors.h"
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

// The UNet on the inputs of case `c` (the io tensors "<c>.sample", "<c>.timestep", ...).
at::Tensor run(osor::model::UNet2DConditionModel& unet, const osor::test::ModelFixture& fx, const std::string& c) {
  return unet.forward(fx.tensor(c + ".sample"), fx.tensor(c + ".timestep"), fx.tensor(c + ".encoder_hidden_states"),
                      fx.tensor(c + ".text_embeds"), fx.tensor(c + ".time_ids"));
}

// The cases of a fixture that store `expected` ("<case>.<expected>").
std::vector<std::string> cases_with(const osor::test::ModelFixture& fx, const std::string& expected) {
  const std::vector<std::string> cases = osor::test::keys_with(fx.io, "." + expected);
  REQUIRE_MESSAGE(!cases.empty(), fx.name << ".io.safetensors has no <case>." << expected);
  return cases;
}

}  // namespace

TEST_CASE("conformance: model/sdxl_unet_osor OSOR LoRA + alpha head match PEFT (merged and runtime)") {
  const auto fx = open_fixtures();
  if (!fx) return;
  const auto config = osor::model::UNetConfig::from_json(fx->base.json.at("config").dump(), "sdxl_unet.json:config");
  const double atol = fx->osor.json.at("tolerance").at("atol").get<double>();
  const auto checkpoint = osor::model::SafetensorsFile::open(fx->osor.file(".lora.safetensors"));
  const auto& lora_json = fx->osor.json.at("lora");
  for (const std::string& c : cases_with(fx->osor, "eps_f64")) {
    CAPTURE(c);
    const at::Tensor eps = fx->osor.tensor(c + ".eps_f64"), mask_logits = fx->osor.tensor(c + ".mask_logits_f64");
    const int64_t eps_channels = eps.size(1), mask_channels = mask_logits.size(1);
    for (const bool merge : {true, false}) {
      osor::model::UNet2DConditionModel unet(config);
      unet.load({fx->base.file(".weights.safetensors")});
      osor::model::LoraOptions options;
      options.merge = merge;
      const auto report = osor::model::apply_osor_checkpoint(unet, checkpoint, options);
      CHECK(report.wrapped_modules == lora_json.at("num_wrapped_modules").get<int64_t>());
      CHECK(report.rank == lora_json.at("rank").get<int64_t>());
      CHECK(report.scaling == doctest::Approx(lora_json.at("scaling").get<double>()));
      CHECK(report.conv_out_channels == eps_channels + mask_channels);
      const at::Tensor out = run(unet, fx->osor, c);
      const double e_eps = osor::test::max_abs_diff(out.narrow(1, 0, eps_channels), eps);
      const double e_mask = osor::test::max_abs_diff(out.narrow(1, eps_channels, mask_channels), mask_logits);
      MESSAGE(std::string(merge ? "merged" : "runtime") << ": max|eps err| " << e_eps << ", max|mask_logits err| "
                                                        << e_mask << " (atol " << atol << ")");
      CHECK(e_eps <= atol);
      CHECK(e_mask <= atol);
    }
  }
}

TEST_CASE("conformance: model/sdxl_unet_osor adapters disabled give the base UNet with the widened conv_out") {
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
  for (const std::string& c : cases_with(fx->osor, "alpha5_nolora.out_f64")) {
    const double err = osor::test::max_abs_diff(run(unet, fx->osor, c), fx->osor.tensor(c + ".alpha5_nolora.out_f64"));
    MESSAGE("case " << c << ": no-LoRA widened output max|err| " << err << " (atol " << atol << ")");
    CHECK(err <= atol);
  }
}

TEST_CASE("conformance: model/sdxl_unet a LoRA key naming no UNet layer is an error that names it, widen_conv_out keeps the old rows") {
  const auto fx = osor::test::open_model_fixture("sdxl_unet");
  if (!fx) return;
  const auto config = osor::model::UNetConfig::from_json(fx->json.at("config").dump(), "sdxl_unet.json:config");
  osor::model::UNet2DConditionModel unet(config);
  unet.load({fx->file(".weights.safetensors")});
  std::map<std::string, at::Tensor> bad{{"unet.mid_block.nope.lora_A.default.weight", at::zeros({4, 8})},
                                        {"unet.mid_block.nope.lora_B.default.weight", at::zeros({8, 4})}};
  CHECK_THROWS_WITH_AS(osor::model::apply_osor_checkpoint(unet, bad, "bad.safetensors"),
                       doctest::Contains("unet.mid_block.nope.lora_A.default.weight"),
                       osor::ModelError);
  const auto& cases = fx->json.at("io").at("cases");
  REQUIRE(!cases.empty());
  const std::string c = cases.begin().key();
  const at::Tensor before = run(unet, *fx, c);
  const int64_t channels = before.size(1);
  osor::model::widen_conv_out(unet, channels + 1, 0);
  const at::Tensor after = run(unet, *fx, c);
  REQUIRE(after.size(1) == channels + 1);
  CHECK(osor::test::max_abs_diff(after.narrow(1, 0, channels), before) == 0.0);
}
