// OSOR-FLUX in the training loop with tiny random networks (model/configs/tiny/flux-fill): the training forward is
// the conformance-tested inference (osor-flux) on the same networks and draws; gradients reach every trainable tensor
// (a finite-difference check in float64); the adapters sit on OSOR's FLUX targets under OSOR's checkpoint names, and
// a checkpoint of them loads through the inference loader to the same generator; G and D steps of both phases run.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "model/flux/flux_transformer.h"
#include "model/io/safetensors.h"
#include "model/osor/osor_flux.h"
#include "model/train/batch_inputs.h"
#include "model/train/discriminator.h"
#include "model/train/flux_generator.h"
#include "model/train/generator_setup.h"
#include "model/train/reconstruction_loss.h"
#include "model/train/trainer.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/test_paths.h"

namespace {

using namespace osor::model::train;
namespace fs = std::filesystem;

fs::path tiny_configs() { return fs::path(OSOR_MODEL_CONFIGS_DIR) / "tiny"; }

GeneratorSetup tiny_flux(int phase, at::ScalarType dtype = at::kFloat) {
  GeneratorSetup s;
  s.backbone = Backbone::Flux;
  s.random_config_dir = tiny_configs();
  s.phase = phase;
  s.lora_rank = 4;
  s.seed = 21;
  s.dtype = dtype;
  return s;
}

// Fresh PEFT adapters have lora_B = 0; give every trainable tensor a nudge so the adapters act.
void perturb(const std::vector<std::pair<std::string, at::Tensor>>& params, uint64_t seed, double scale = 0.05) {
  at::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (const auto& [name, p] : params) p.add_(at::randn(p.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(p.dtype()) * scale);
}

struct Images {
  at::Tensor shot, bg, mask;
};

Images images(int64_t batch, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  Images im;
  im.bg = at::rand({batch, 3, h, w}, gen, f32);
  im.mask = at::zeros({batch, 1, h, w}, f32);
  im.mask.narrow(2, h / 4, h / 2).narrow(3, w / 3, w / 2).fill_(1);
  im.shot = im.bg * (1 - im.mask) + im.mask * at::rand({batch, 3, 1, 1}, gen, f32);
  return im;
}

std::pair<at::Tensor, at::Tensor> draws(int64_t batch, int64_t channels, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor posterior = at::randn({batch, channels, h / 8, w / 8}, gen, f32);
  return {posterior, at::randn({batch, channels, h / 8, w / 8}, gen, f32)};
}

}  // namespace

TEST_CASE("flux trainer: the training forward equals osor-flux inference on the same networks and draws (both phases)") {
  for (const int phase : {1, 2}) {
    CAPTURE(phase);
    TrainableGenerator g = build_trainable_generator(tiny_flux(phase));
    perturb(g.parameters, 3);
    auto& flux = dynamic_cast<FluxGenerator&>(*g.generator);
    const Images im = images(1, 64, 48, 5);
    const auto [posterior, eps] = draws(1, flux.latent_channels(), 64, 48, 6);
    at::Tensor x;
    {
      at::NoGradGuard no_grad;
      const BatchLatents b = flux.prepare(im.shot * 2 - 1, im.mask, posterior, eps, 400, phase == 2 ? im.mask : at::Tensor());
      CHECK(b.z_in.size(2) == flux.transformer->config().in_channels);
      x = ((flux.forward(b, 400).x + 1) / 2).clamp(0, 1);
    }
    osor::model::OsorFluxOptions o;
    o.noise = osor::model::OsorFluxNoise{posterior, eps.reshape({1, -1, 4 * flux.latent_channels()})};
    const osor::model::OsorFlux inference(std::move(flux.transformer), std::move(flux.vae), flux.prompt_embeds,
                                          flux.pooled_prompt_embeds);
    CHECK(inference.has_alpha_head() == (phase == 2));
    const at::Tensor expected = inference.run(im.shot, im.mask, o).image;
    CHECK(x.sizes() == expected.sizes());
    CHECK((x - expected).abs().max().item<double>() <= 1e-6);
  }
}

TEST_CASE("flux trainer: OSOR's FLUX LoRA targets and checkpoint names, and a checkpoint loads back to the same generator") {
  TrainableGenerator g = build_trainable_generator(tiny_flux(2));
  const auto config = osor::model::FluxTransformerConfig::from_file(tiny_configs() / "flux-fill" / "transformer" / "config.json");
  // PEFT's suffix rule on OSOR's list: 6 per double block, 4 per single block; the single blocks' proj_out (the
  // "single_transformer_blocks.*.proj_out" entry) matches nothing.
  CHECK(g.lora_modules == 6 * config.num_layers + 4 * config.num_single_layers);
  CHECK(g.lora_rank == 4);
  CHECK(g.lora_alpha == 4.0);
  std::map<std::string, at::Tensor> named(g.parameters.begin(), g.parameters.end());
  const std::string prefix = "transformer.base_model.model.";
  for (const auto& [name, p] : named) {
    CHECK_MESSAGE(name.rfind(prefix, 0) == 0, name);
    CHECK_MESSAGE(name.find("add_q_proj") == std::string::npos, name);
    CHECK_MESSAGE(name.find("single_transformer_blocks.0.proj_out.lora") == std::string::npos, name);
    CHECK(p.requires_grad());
    CHECK((p.scalar_type() == at::kFloat));
  }
  CHECK(named.count(prefix + "transformer_blocks.0.attn.to_q.lora_A.default.weight"));
  CHECK(named.count(prefix + "single_transformer_blocks.1.proj_mlp.lora_B.default.weight"));
  CHECK(named.at(prefix + "proj_out.weight").size(0) == config.out_channels + 4);  // Phase II: 64 → 68
  CHECK(named.at(prefix + "proj_out.bias").size(0) == config.out_channels + 4);

  perturb(g.parameters, 9);
  const fs::path dir = osor::test::process_scratch_dir("flux_ckpt");
  osor::model::write_safetensors(dir / "state_dict.safetensors", g.parameters, {{"lora_alpha", "4"}, {"r", "4"}});
  GeneratorSetup again = tiny_flux(2);
  again.init_checkpoint = dir / "state_dict.safetensors";
  TrainableGenerator h = build_trainable_generator(again);
  CHECK(h.lora_modules == g.lora_modules);
  REQUIRE(h.parameters.size() == g.parameters.size());
  for (size_t i = 0; i < h.parameters.size(); ++i) {
    CHECK(h.parameters[i].first == g.parameters[i].first);
    CHECK(h.parameters[i].second.equal(g.parameters[i].second));
  }
  const Images im = images(2, 48, 48, 10);
  const auto [posterior, eps] = draws(2, 16, 48, 48, 11);
  at::NoGradGuard no_grad;
  const auto xg = g.generator->forward(g.generator->prepare(im.shot * 2 - 1, im.mask, posterior, eps, 400, im.mask), 400);
  const auto xh = h.generator->forward(h.generator->prepare(im.shot * 2 - 1, im.mask, posterior, eps, 400, im.mask), 400);
  CHECK(xg.x.equal(xh.x));
  CHECK(xg.mask_logits.equal(xh.mask_logits));
  fs::remove_all(dir);
}

TEST_CASE("flux trainer: gradients of the G losses reach proj_out and the adapters (finite differences, float64)") {
  GeneratorSetup s = tiny_flux(2, at::kDouble);
  s.trainable_dtype = at::kDouble;
  TrainableGenerator g = build_trainable_generator(s);
  perturb(g.parameters, 13);
  const Images im = images(1, 32, 32, 14);
  const auto [posterior, eps] = draws(1, 16, 32, 32, 15);
  const at::Tensor shot = (im.shot * 2 - 1).to(at::kDouble), mask = im.mask.to(at::kDouble), bg = (im.bg * 2 - 1).to(at::kDouble);
  const BatchLatents b = g.generator->prepare(shot, mask, posterior, eps, 400, mask);
  auto loss = [&] {
    const GeneratorOutput out = g.generator->forward(b, 400);
    // Smooth losses (L1's kinks would spoil a finite difference): the image through the VAE decoder, the alpha head.
    return ((out.x - bg).pow(2) * mask).mean() + alpha_loss(out.mask_logits, b.gt_mask_latent, 1.0, 2.0).total;
  };
  loss().backward();
  for (const std::string name : {"transformer.base_model.model.proj_out.weight",
                                 "transformer.base_model.model.transformer_blocks.0.attn.to_v.lora_A.default.weight",
                                 "transformer.base_model.model.single_transformer_blocks.0.attn.to_q.lora_B.default.weight"}) {
    CAPTURE(name);
    at::Tensor p;
    for (const auto& [n, t] : g.parameters)
      if (n == name) p = t;
    REQUIRE(p.defined());
    REQUIRE(p.grad().defined());
    auto gen = at::detail::createCPUGenerator(16);
    const at::Tensor direction = at::randn(p.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(at::kDouble);
    const double analytic = (p.grad() * direction).sum().item<double>();
    at::NoGradGuard no_grad;
    // Central differences, Richardson-extrapolated: steps large enough that the float32 parts of the FLUX blocks
    // (diffusers' RMSNorm variance and RoPE run in float32 whatever the dtype) stay far below the differences.
    auto central = [&](double h) {
      p.add_(direction * h);
      const double up = loss().item<double>();
      p.sub_(direction * (2 * h));
      const double down = loss().item<double>();
      p.add_(direction * h);
      return (up - down) / (2 * h);
    };
    const double numeric = (4 * central(5e-3) - central(1e-2)) / 3;
    MESSAGE(name << ": analytic " << analytic << ", numeric " << numeric);
    CHECK(std::abs(analytic) > 1e-8);
    CHECK(std::abs(numeric - analytic) <= 3e-3 * std::abs(analytic));
  }
}

TEST_CASE("flux trainer: Phase I and Phase II G and D batches on tiny FLUX move only their own tensors") {
  for (const int phase : {1, 2}) {
    CAPTURE(phase);
    TrainableGenerator g = build_trainable_generator(tiny_flux(phase));
    CHECK(g.generator->has_alpha_head() == (phase == 2));
    Discriminator d(discriminator_config_from_file(tiny_configs() / "discriminator" / "config.json"));
    d.randomize(5);
    TrainerOptions o;
    o.config = TrainConfig::defaults(Backbone::Flux, phase);
    CHECK(o.config.model_t == 400);
    o.config.optimizer.lr = 1e-3;
    o.phase = phase;
    auto lpips = [](const at::Tensor& x, const at::Tensor& y) { return (x - y).pow(2).mean(); };
    Trainer trainer(*g.generator, g.parameters, d, lpips, o);
    std::map<std::string, at::Tensor> before;
    for (const auto& [n, p] : g.parameters) before[n] = p.detach().clone();
    const Images im = images(2, 96, 96, 17);
    const StepRecord gs = trainer.train_on({im.shot, im.bg, im.mask, {}});
    CHECK(gs.generator);
    bool has_alpha = false;
    for (const auto& [name, v] : gs.losses) {
      CHECK_MESSAGE(std::isfinite(v), name);
      has_alpha |= name == "G_alpha";
    }
    CHECK(has_alpha == (phase == 2));
    // lora_B starts at 0, where weight decay does nothing: a B that moved had a gradient; so did proj_out.
    for (const auto& [n, p] : g.parameters)
      if (n.find("lora_B") != std::string::npos || n.find(".proj_out.") != std::string::npos)
        CHECK_MESSAGE(!p.equal(before.at(n)), n);
    for (const auto& [n, p] : g.parameters) before[n] = p.detach().clone();
    const StepRecord ds = trainer.train_on({im.shot, im.bg, im.mask, {}});
    CHECK_FALSE(ds.generator);
    CHECK(ds.step == 1);
    for (const auto& [name, v] : ds.losses) CHECK_MESSAGE(std::isfinite(v), name);
    for (const auto& [n, p] : g.parameters) CHECK_MESSAGE(p.equal(before.at(n)), n);
  }
}
