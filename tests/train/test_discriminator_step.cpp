// conformance: train/train_phase1, train/train_phase2 — the D step (d1) of OSOR's trainer: D(bg), D(x), soft-label
// loss + 60000·R1, backward, AdamW from the fixture's resumed state. The generator's output x is the VAE decode of
// the stored decoder input (`d1.vae_decode_input_f64`), so the step is checked without the G side.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <fstream>
#include <string>

#include "model/train/adamw.h"
#include "model/train/discriminator.h"
#include "model/train/discriminator_step.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/train/train_models.h"

namespace {

using namespace osor::model::train;

void check_d_step(const std::filesystem::path& root, const std::string& name) {
  osor::test::TrainFixture fx(root, name);
  const auto& config = fx.json.at("config");
  auto d = Discriminator::load(fx.dir / "disc.weights.safetensors");
  const auto& opt = config.at("optimizer");
  AdamW optimizer(d.trainable_parameters(), osor::test::fixture_adamw_options(opt));
  osor::test::resume_optimizer(optimizer, opt.at("initial_state"), "D");
  LossWeights w;
  w.gp = config.at("loss_weights").at("gp").get<double>();

  const at::Tensor bg = osor::test::images_from_u8(fx.io.tensor("batch.bg_u8")) * 2 - 1;
  const std::string mask_key = fx.io.contains("batch.gt_mask_u8") ? "batch.gt_mask_u8" : "batch.mask_u8";
  const at::Tensor mask = fx.io.tensor(mask_key).unsqueeze(1).to(at::kFloat) / 255;
  const auto vae = osor::test::fixture_vae(root / "model");
  const at::Tensor x = vae->decode(fx.f64("d1.vae_decode_input").to(at::kFloat));

  const auto r = discriminator_step(d, optimizer, bg, x, mask, w, {},
                                    [&](const std::string& pass) { osor::test::check_sn_buffers(fx, d, "d1.sn." + pass + "."); });
  for (size_t k = 0; k < r.real_logits.size(); ++k) {
    fx.check("d1.D0.logits." + std::to_string(k), r.real_logits[k]);
    fx.check("d1.D1.logits." + std::to_string(k), r.fake_logits[k]);
  }
  fx.check("d1.d_adv", r.gan);
  fx.check("d1.r1_raw", r.r1_raw);
  fx.check("d1.loss.D", r.total);
  fx.check("d1.loss.D_gan", r.gan);
  fx.check("d1.loss.D_gp", r.gp);
  fx.check("d1.loss.D_logits_real", r.logits_real);
  fx.check("d1.loss.D_logits_fake", r.logits_fake);
  for (const auto& [pname, p] : optimizer.params()) {
    fx.check("d1.grad_D." + pname, p.grad());
    fx.check("d1.param_after_D." + pname, p);
  }
  fx.summary();
}

}  // namespace

TEST_CASE("conformance: train/train_phase1 the D step d1 (D on bg and on the generator output, D loss + R1, AdamW)") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase1.json");
  check_d_step(root, "train_phase1");
}

TEST_CASE("conformance: train/train_phase2 the D step d1 uses the ground-truth mask for the occupancy targets") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase2.json");
  check_d_step(root, "train_phase2");
}
