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
#include "tests/train/train_fixture.h"

namespace {

using namespace osor::model::train;

osor::model::AutoencoderKL fixture_vae(const std::filesystem::path& model_dir) {
  const auto config = nlohmann::json::parse(std::ifstream(model_dir / "sdxl_vae.json")).at("config");
  osor::model::AutoencoderKL vae(osor::model::VaeConfig::from_json(config.dump(), (model_dir / "sdxl_vae.json").string()));
  vae.load({model_dir / "sdxl_vae.weights.safetensors"});
  return vae;
}

// OSOR's optimizers as the fixture starts them: every parameter resumed at `step` with constant moments.
void resume(AdamW& opt, const nlohmann::json& initial, const std::string& which) {
  for (const auto& [name, p] : opt.params())
    opt.state(name) = {initial.at("step").get<int64_t>(), at::full_like(p, initial.at("exp_avg").get<double>()),
                       at::full_like(p, initial.at("exp_avg_sq").at(which).get<double>())};
}

void check_sn_buffers(osor::test::TrainFixture& fx, Discriminator& d, const std::string& prefix) {
  for (const auto& item : d.module().named_buffers()) {
    const std::string& n = item.key();
    for (const std::string which : {"u", "v"})
      if (n.size() > 9 && n.compare(n.size() - 9, 9, ".weight_" + which) == 0)
        fx.check(prefix + which + "." + n.substr(0, n.size() - 9), item.value());
  }
}

void check_d_step(const std::filesystem::path& root, const std::string& name) {
  osor::test::TrainFixture fx(root, name);
  const auto& config = fx.json.at("config");
  auto d = Discriminator::load(fx.dir / "disc.weights.safetensors");
  AdamWOptions o;
  const auto& opt = config.at("optimizer");
  o.lr = opt.at("lr").get<double>();
  o.beta1 = opt.at("betas").at(0).get<double>();
  o.beta2 = opt.at("betas").at(1).get<double>();
  o.eps = opt.at("eps").get<double>();
  o.weight_decay = opt.at("weight_decay").get<double>();
  AdamW optimizer(d.trainable_parameters(), o);
  resume(optimizer, opt.at("initial_state"), "D");
  LossWeights w;
  w.gp = config.at("loss_weights").at("gp").get<double>();

  const at::Tensor bg = osor::test::images_from_u8(fx.io.tensor("batch.bg_u8")) * 2 - 1;
  const std::string mask_key = fx.io.contains("batch.gt_mask_u8") ? "batch.gt_mask_u8" : "batch.mask_u8";
  const at::Tensor mask = fx.io.tensor(mask_key).unsqueeze(1).to(at::kFloat) / 255;
  const auto vae = fixture_vae(root / "model");
  const at::Tensor x = vae.decode(fx.f64("d1.vae_decode_input").to(at::kFloat));

  const auto r = discriminator_step(d, optimizer, bg, x, mask, w, {},
                                    [&](const std::string& pass) { check_sn_buffers(fx, d, "d1.sn." + pass + "."); });
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
