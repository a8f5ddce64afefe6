// conformance: train/losses — OSOR's losses (src/utils/losses.py), LPIPS-VGG, AdamW and gradient clipping on the
// fixture's given tensors; values and gradients against the float64 reference (train/README.md §2).
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "metrics/networks/lpips_net.h"
#include "model/io/safetensors.h"
#include "model/train/adamw.h"
#include "model/train/adversarial_loss.h"
#include "model/train/discriminator.h"
#include "model/train/loss_weights.h"
#include "model/train/reconstruction_loss.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/train/train_models.h"
#include "tests/metrics/inception_formula_weights.h"
#include "tests/test_paths.h"
#include "tests/train/train_fixture.h"

namespace {

using namespace osor::model::train;
using osor::test::TrainFixture;

std::vector<at::Tensor> indexed(const TrainFixture& fx, const std::string& prefix, bool requires_grad) {
  std::vector<at::Tensor> out;
  for (int k = 0; fx.io.contains(prefix + std::to_string(k)); ++k)
    out.push_back(fx.io.tensor(prefix + std::to_string(k)).clone().requires_grad_(requires_grad));
  return out;
}

at::Tensor fixture_mask(const TrainFixture& fx) { return fx.io.tensor("mask_u8").unsqueeze(1).to(at::kFloat) / 255; }

}  // namespace

TEST_CASE("conformance: train/losses occupancy targets, soft-label D loss and area-normalised G loss with gradients") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/losses.json");
  TrainFixture fx(root, "losses");
  const at::Tensor mask = fixture_mask(fx);
  auto real = indexed(fx, "real_logits.", true), fake = indexed(fx, "fake_logits.", true);
  REQUIRE(!real.empty());
  const auto occupancy = occupancy_targets(mask, fake);
  for (size_t k = 0; k < occupancy.size(); ++k) fx.check("occupancy." + std::to_string(k), occupancy[k]);

  const auto d = discriminator_loss(real, fake, mask);
  fx.check("d_loss", d.total);
  for (size_t k = 0; k < d.per_head.size(); ++k) fx.check("d_loss.scale." + std::to_string(k), d.per_head[k]);
  d.total.backward();
  for (size_t k = 0; k < real.size(); ++k) {
    fx.check("d_loss.grad_real." + std::to_string(k), real[k].grad());
    fx.check("d_loss.grad_fake." + std::to_string(k), fake[k].grad());
    fake[k].mutable_grad() = at::Tensor();
  }
  const auto g = generator_loss(fake, mask);
  fx.check("g_loss", g.total);
  for (size_t k = 0; k < g.per_head.size(); ++k) fx.check("g_loss.scale." + std::to_string(k), g.per_head[k]);
  g.total.backward();
  for (size_t k = 0; k < fake.size(); ++k) fx.check("g_loss.grad_fake." + std::to_string(k), fake[k].grad());
  fx.summary();
}

TEST_CASE("conformance: train/losses R1 on the head inputs, its double-backward parameter gradients and SN buffers") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/losses.json");
  TrainFixture fx(root, "losses");
  auto d = Discriminator::load(fx.dir / "disc.weights.safetensors");
  d.train(true);
  const auto features = indexed(fx, "r1.features.", false);
  REQUIRE(features.size() == d.head_count());
  const auto r1 = r1_penalty(d, features);
  fx.check("r1.gp", r1.total);
  for (size_t k = 0; k < features.size(); ++k) {
    fx.check("r1.gp_head." + std::to_string(k), r1.per_head[k]);
    fx.check("r1.grad_features." + std::to_string(k), r1.feature_grads[k]);
  }
  (LossWeights{}.gp * r1.total).backward();
  for (const auto& [name, p] : d.trainable_parameters()) {
    // The penalty does not depend on the biases: their gradient is 0 or, for the last conv's, not reached at all
    // (PyTorch: None; the fixture stores 0).
    fx.check("r1.param_grad." + name, p.grad().defined() ? p.grad() : at::zeros_like(p));
  }
  for (const auto& item : d.module().named_buffers()) {
    const std::string& n = item.key();
    for (const std::string which : {"u", "v"})
      if (n.size() > 9 && n.compare(n.size() - 9, 9, ".weight_" + which) == 0)
        fx.check("r1." + which + "_after." + n.substr(0, n.size() - 9), item.value());
  }
  fx.summary();
}

TEST_CASE("conformance: train/losses masked L1 and the Phase II alpha BCE + Dice with gradients") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/losses.json");
  TrainFixture fx(root, "losses");
  const LossWeights w;
  const at::Tensor pred = fx.io.tensor("l1.pred").clone().requires_grad_(true);
  const at::Tensor l1 = masked_l1_loss(pred, fx.io.tensor("l1.target"), fx.io.tensor("l1.mask"));
  fx.check("l1", l1);
  l1.backward();
  fx.check("l1.grad_pred", pred.grad());

  const at::Tensor gt = latent_mask(fixture_mask(fx));
  fx.check("alpha.gt_mask_latent", gt);
  const at::Tensor logits = fx.io.tensor("alpha.logits").clone().requires_grad_(true);
  const auto alpha = alpha_loss(logits, gt, w.alpha_bce, w.alpha_dice);
  fx.check("alpha.total", alpha.total);
  fx.check("alpha.bce_weighted", alpha.bce_weighted);
  fx.check("alpha.dice_weighted", alpha.dice_weighted);
  alpha.total.backward();
  fx.check("alpha.grad_logits", logits.grad());
  fx.summary();
}


TEST_CASE("conformance: train/losses LPIPS-VGG value, per layer and gradient w.r.t. the prediction") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/losses.json");
  TrainFixture fx(root, "losses");
  const auto stored = osor::model::SafetensorsFile::open(fx.dir / "lpips_vgg.weights.safetensors");
  // The scaling layer LpipsNet hard-codes (lpips v0.1's constants) is the fixture's.
  CHECK(osor::test::max_abs(stored.tensor("scaling_layer.shift").flatten(), at::tensor({-0.030f, -0.088f, -0.188f})) == 0);
  CHECK(osor::test::max_abs(stored.tensor("scaling_layer.scale").flatten(), at::tensor({0.458f, 0.448f, 0.450f})) == 0);
  const auto path = osor::test::lpips_vgg_weights(fx);
  const auto net = osor::metrics::LpipsNet::load(osor::metrics::LpipsTrunk::Vgg, {path}, c10::Device(c10::kCPU));
  std::filesystem::remove(path);
  const at::Tensor x = fx.io.tensor("lpips.x").clone().requires_grad_(true);
  const at::Tensor layers = net.per_layer_with_grad(x, fx.io.tensor("lpips.y"));
  for (int64_t l = 0; l < layers.size(1); ++l) fx.check("lpips.layer." + std::to_string(l), layers.select(1, l));
  const at::Tensor per_sample = layers.sum(1);
  fx.check("lpips.per_sample", per_sample);
  const at::Tensor mean = per_sample.mean();
  fx.check("lpips.mean", mean);
  mean.backward();
  fx.check("lpips.grad_x", x.grad());
  fx.summary();
}

namespace {

// A number the fixture's description states, e.g. "lr=1e-3" in outputs["adamw.fresh..."].
double stated(const nlohmann::json& outputs, const std::string& key, const std::string& pattern) {
  std::smatch m;
  const std::string text = outputs.at(key).get<std::string>();
  REQUIRE_MESSAGE(std::regex_search(text, m, std::regex(pattern)), key << ": no '" << pattern << "' in '" << text << "'");
  return std::stod(m[1].str());
}

void check_adamw(TrainFixture& fx, AdamW& opt, const std::string& prefix) {
  for (const auto& [name, p] : opt.params()) {
    fx.check(prefix + ".param." + name, p);
    fx.check(prefix + ".exp_avg." + name, opt.state(name).exp_avg);
    fx.check(prefix + ".exp_avg_sq." + name, opt.state(name).exp_avg_sq);
  }
}

}  // namespace

TEST_CASE("conformance: train/losses AdamW from a fresh and a resumed state, and gradient clipping") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/losses.json");
  TrainFixture fx(root, "losses");
  const auto& outputs = fx.json.at("outputs");
  AdamWOptions o;  // betas, eps and weight decay: PyTorch's defaults, as OSOR
  o.lr = stated(outputs, "adamw.fresh.step{1,2}.{param,exp_avg,exp_avg_sq}.{a,b}", R"(lr=([0-9.eE+-]+))");
  const std::vector<std::string> names = {"a", "b"};
  auto params = [&] {
    std::vector<std::pair<std::string, at::Tensor>> p;
    for (const auto& n : names) p.emplace_back(n, fx.io.tensor("adamw.param." + n).clone());
    return p;
  };
  AdamW fresh(params(), o);
  for (int step = 1; step <= 2; ++step) {
    for (auto& [n, p] : fresh.params()) at::Tensor(p).mutable_grad() = fx.io.tensor("adamw.grad" + std::to_string(step) + "." + n).clone();
    fresh.step();
    check_adamw(fx, fresh, "adamw.fresh.step" + std::to_string(step));
  }
  AdamW resumed(params(), o);
  const int64_t resumed_step = static_cast<int64_t>(stated(outputs, "adamw.resumed.step1.*", R"(step ([0-9]+))"));
  for (auto& [n, p] : resumed.params()) {
    resumed.state(n) = {resumed_step, fx.io.tensor("adamw.resumed.exp_avg." + n).clone(),
                        fx.io.tensor("adamw.resumed.exp_avg_sq." + n).clone()};
    at::Tensor(p).mutable_grad() = fx.io.tensor("adamw.grad1." + n).clone();
  }
  resumed.step();
  check_adamw(fx, resumed, "adamw.resumed.step1");

  for (const std::string which : {"above", "below"}) {
    const double factor = which == "above" ? 1.0 : stated(outputs, "clip.{above,below}.total_norm, clip.{above,below}.grad.{a,b}", R"(and ([0-9.]+) \* grad1)");
    std::vector<at::Tensor> ps;
    for (const auto& n : names) {
      ps.push_back(fx.io.tensor("adamw.param." + n).clone());
      ps.back().mutable_grad() = fx.io.tensor("adamw.grad1." + n) * factor;
    }
    fx.check("clip." + which + ".total_norm", clip_grad_norm(ps, 1.0));
    for (size_t i = 0; i < names.size(); ++i) fx.check("clip." + which + ".grad." + names[i], ps[i].grad());
  }
  fx.summary();
}

namespace {

// The G step's loss terms on the generator output the fixture stores for g1 (x decoded from the stored decoder
// input; D in eval mode, frozen): the weighted sum OSOR's optimize_generator logs. The gradient side of the G step
// needs a differentiable generator (docs/training.md, what remains).
void check_generator_terms(const std::filesystem::path& root, const std::string& name) {
  TrainFixture fx(root, name), losses(root, "losses");
  const auto& lw = fx.json.at("config").at("loss_weights");
  LossWeights w;
  w.l1 = lw.at("l1").get<double>();
  w.lpips = lw.at("lpips").get<double>();
  w.gan = lw.at("gan").get<double>();
  w.alpha_bce = lw.value("alpha_bce", w.alpha_bce);
  w.alpha_dice = lw.value("alpha_dice", w.alpha_dice);

  const auto model_dir = root / "model";
  const auto vae_config = nlohmann::json::parse(std::ifstream(model_dir / "sdxl_vae.json")).at("config");
  osor::model::AutoencoderKL vae(osor::model::VaeConfig::from_json(vae_config.dump(), (model_dir / "sdxl_vae.json").string()));
  vae.load({model_dir / "sdxl_vae.weights.safetensors"});
  const at::Tensor x = vae.decode(fx.f64("g1.vae_decode_input").to(at::kFloat));
  fx.check("g1.x", x);

  const at::Tensor bg = osor::test::images_from_u8(fx.io.tensor("batch.bg_u8")) * 2 - 1;
  const bool phase2 = fx.io.contains("batch.gt_mask_u8");
  const at::Tensor m = fx.io.tensor(phase2 ? "batch.gt_mask_u8" : "batch.mask_u8").unsqueeze(1).to(at::kFloat) / 255;
  auto d = Discriminator::load(fx.dir / "disc.weights.safetensors");  // eval mode: no power iteration
  const auto out = d.forward(x);
  for (size_t k = 0; k < out.logits.size(); ++k) fx.check("g1.D0.logits." + std::to_string(k), out.logits[k]);
  const at::Tensor l1 = masked_l1_loss(x, bg, m);
  const auto path = osor::test::lpips_vgg_weights(losses);
  const auto net = osor::metrics::LpipsNet::load(osor::metrics::LpipsTrunk::Vgg, {path}, c10::Device(c10::kCPU));
  std::filesystem::remove(path);
  const at::Tensor lpips = net.per_layer_with_grad(x, bg).sum(1).mean();
  const at::Tensor gan = generator_loss(out.logits, m).total;
  fx.check("g1.l1_raw", l1);
  fx.check("g1.lpips_raw", lpips);
  fx.check("g1.g_adv_raw", gan);
  fx.check("g1.loss.G_l1", l1 * w.l1);
  fx.check("g1.loss.G_lpips", lpips * w.lpips);
  fx.check("g1.loss.G_disc", gan * w.gan);
  at::Tensor total = l1 * w.l1 + lpips * w.lpips + gan * w.gan;
  if (phase2) {
    const auto alpha = alpha_loss(fx.f64("g1.mask_logits").to(at::kFloat),
                                  latent_mask(m), w.alpha_bce, w.alpha_dice);
    fx.check("g1.alpha_total", alpha.total);
    fx.check("g1.loss.G_alpha", alpha.total);
    fx.check("g1.loss.G_alpha_bce", alpha.bce_weighted);
    fx.check("g1.loss.G_alpha_dice", alpha.dice_weighted);
    total = total + alpha.total;
  }
  fx.check("g1.loss.G_total", total);
  fx.summary();
}

}  // namespace

TEST_CASE("conformance: train/train_phase1 G loss terms (weighted L1, LPIPS, GAN) on the stored generator output") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase1.json");
  check_generator_terms(root, "train_phase1");
}

TEST_CASE("conformance: train/train_phase2 G loss terms with the alpha BCE + Dice on the stored generator output") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase2.json");
  check_generator_terms(root, "train_phase2");
}
