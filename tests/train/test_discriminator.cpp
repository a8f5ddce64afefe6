// conformance: train/disc — OSOR's SMMPatchGAN (model/train/discriminator.h) against the official code's
// forward in eval and train mode: trunk stage outputs, head logits, spectral-norm buffers and σ.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <map>
#include <string>

#include "model/train/discriminator.h"
#include "tests/train/train_fixture.h"

namespace {

using osor::model::train::Discriminator;

std::map<std::string, at::Tensor> buffers(Discriminator& d) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : d.module().named_buffers()) out[item.key()] = item.value().clone();
  return out;
}

void check_sigmas(osor::test::TrainFixture& fx, Discriminator& d, const std::string& mode) {
  for (const auto& [sn, sigma] : d.last_sigmas()) fx.check("sigma_" + mode + "." + sn, sigma);
}

}  // namespace

TEST_CASE("conformance: train/disc eval and train forward match SMMPatchGAN, u and v updated once per call") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/disc.json");
  osor::test::TrainFixture fx(root, "disc");
  auto d = Discriminator::load(fx.dir / "disc.weights.safetensors");
  const at::Tensor x = osor::test::images_from_u8(fx.io.tensor("x_u8")) * 2 - 1;
  const int heads = osor::test::count_indexed(fx.io, "features.", "_f64");
  REQUIRE(heads > 0);
  REQUIRE(d.last_sigmas().size() == static_cast<size_t>(2 * heads));

  auto before = buffers(d);
  for (const auto& [sn, unused] : d.last_sigmas()) {
    CHECK(osor::test::max_abs(before.at(sn + ".weight_u"), fx.io.tensor("u_before." + sn)) == 0);
    CHECK(osor::test::max_abs(before.at(sn + ".weight_v"), fx.io.tensor("v_before." + sn)) == 0);
  }

  SUBCASE("eval mode: no power iteration") {
    const auto out = d.forward(x);
    REQUIRE(out.logits.size() == static_cast<size_t>(heads));
    for (int k = 0; k < heads; ++k) {
      fx.check("features." + std::to_string(k), out.features[k]);
      fx.check("eval.logits." + std::to_string(k), out.logits[k]);
    }
    check_sigmas(fx, d, "eval");
    for (const auto& [name, value] : buffers(d)) CHECK_MESSAGE(value.equal(before.at(name)), name << " changed in eval mode");
  }
  SUBCASE("train mode: one power iteration per spectral-norm conv, buffers written") {
    d.train(true);
    const auto out = d.forward(x);
    for (int k = 0; k < heads; ++k) fx.check("train.logits." + std::to_string(k), out.logits[k]);
    check_sigmas(fx, d, "train");
    const auto after = buffers(d);
    for (const auto& [sn, unused] : d.last_sigmas()) {
      fx.check("u_after." + sn, after.at(sn + ".weight_u"));
      fx.check("v_after." + sn, after.at(sn + ".weight_v"));
    }
    // The trunk stays frozen and in eval mode.
    for (const auto& [name, p] : d.trainable_parameters()) CHECK(name.rfind("heads.", 0) == 0);
  }
  fx.summary();
}

TEST_CASE("train/disc a weights file without D tensors is an error naming the file and the key") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/lpips_vgg.weights.safetensors");
  const auto path = root / "train" / "lpips_vgg.weights.safetensors";
  try {
    osor::model::train::discriminator_config_from_weights(path);
    FAIL("no error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
    CHECK(std::string(e.what()).find("backbone.model.visual.trunk.stages.0.blocks.0.gamma") != std::string::npos);
  }
}
