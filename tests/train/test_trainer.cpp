// The training loop on tiny random networks (model/configs/tiny): G and D batches alternate as OSOR's, Phase II
// degrades the input mask, the trainable tensors are OSOR's, and a run continued from a copy of its state (tensors,
// optimizer moments, progress, random generators) is bit-identical to the uninterrupted run.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model/error.h"
#include "model/train/adamw.h"
#include "model/train/discriminator.h"
#include "model/train/generator_setup.h"
#include "model/train/sdxl_generator.h"
#include "model/train/trainer.h"
#include "model/unet/unet_2d_condition.h"
#include "tests/test_paths.h"

namespace {

using namespace osor::model::train;

DiscriminatorConfig tiny_discriminator() {
  DiscriminatorConfig c;
  c.trunk.depths = {1, 1, 1, 1};
  c.trunk.dims = {8, 16, 32, 64};
  c.head_hidden = 16;
  return c;
}

struct TinyRun {
  TrainableGenerator g;
  Discriminator d;
  std::unique_ptr<Trainer> trainer;

  explicit TinyRun(int phase, uint64_t seed = 7) : d(tiny_discriminator()) {
    GeneratorSetup s;
    s.random_config_dir = std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny";
    s.phase = phase;
    s.lora_rank = 4;
    s.lora_alpha = 4;
    s.seed = 11;
    g = build_trainable_generator(s);
    d.randomize(5);
    TrainerOptions o;
    o.config = TrainConfig::defaults(Backbone::Sdxl, phase);
    o.config.optimizer.lr = 1e-3;
    o.phase = phase;
    o.seed = seed;
    // A cheap differentiable stand-in for LPIPS (the loop does not depend on which perceptual loss it gets).
    auto lpips = [](const at::Tensor& x, const at::Tensor& y) { return (x - y).pow(2).mean(); };
    trainer = std::make_unique<Trainer>(*g.generator, g.parameters, d, lpips, o);
  }
};

TrainBatch synthetic_batch(int64_t index) {
  auto gen = at::detail::createCPUGenerator(100 + static_cast<uint64_t>(index));
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  TrainBatch b;
  b.bg = at::rand({2, 3, 96, 96}, gen, f32);
  b.mask = at::zeros({2, 1, 96, 96}, f32);
  b.mask.narrow(2, 24 + index % 8, 40).narrow(3, 30, 36).fill_(1);
  b.shot = b.bg * (1 - b.mask) + b.mask * at::rand({2, 3, 1, 1}, gen, f32);
  return b;
}

std::map<std::string, at::Tensor> snapshot(const std::vector<std::pair<std::string, at::Tensor>>& named) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [n, t] : named) out[n] = t.detach().clone();
  return out;
}

// Copies `from`'s training state into `to` (what a checkpoint holds).
void copy_state(TinyRun& from, TinyRun& to) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < from.g.parameters.size(); ++i) to.g.parameters[i].second.copy_(from.g.parameters[i].second);
  auto d_from = from.d.module().named_parameters(), d_to = to.d.module().named_parameters();
  for (const auto& item : d_from) d_to[item.key()].copy_(item.value());
  auto b_from = from.d.module().named_buffers(), b_to = to.d.module().named_buffers();
  for (const auto& item : b_from) b_to[item.key()].copy_(item.value());
  using Pair = std::pair<AdamW*, AdamW*>;
  for (const Pair& opt : {Pair{&from.trainer->generator_optimizer(), &to.trainer->generator_optimizer()},
                          Pair{&from.trainer->discriminator_optimizer(), &to.trainer->discriminator_optimizer()}}) {
    for (const auto& [name, p] : opt.first->params()) {
      const AdamWState& s = opt.first->state(name);
      opt.second->state(name) = {s.step, s.exp_avg.defined() ? s.exp_avg.clone() : at::Tensor(),
                                  s.exp_avg_sq.defined() ? s.exp_avg_sq.clone() : at::Tensor()};
    }
  }
  to.trainer->set_progress(from.trainer->step(), from.trainer->batch_count());
  to.trainer->set_rng_state(from.trainer->rng_state());
}

}  // namespace

TEST_CASE("trainer: G and D batches alternate, the global step counts D steps, OSOR's loss dicts") {
  TinyRun run(1);
  CHECK(run.g.generator->unet->conv_out_channels() == 4);
  CHECK(run.g.lora_modules > 0);
  const auto g = run.trainer->train_on(synthetic_batch(0));
  CHECK(g.generator);
  CHECK(g.step == 0);
  CHECK(g.batch_count == 1);
  CHECK(g.losses.at(0).first == "G_total");
  const auto d = run.trainer->train_on(synthetic_batch(1));
  CHECK_FALSE(d.generator);
  CHECK(d.step == 1);
  CHECK(d.losses.at(0).first == "D");
  for (const auto& rec : {g, d})
    for (const auto& [name, v] : rec.losses) CHECK_MESSAGE(std::isfinite(v), name);
  // G steps move only the generator's tensors, D steps only the heads.
  const auto g_before = snapshot(run.g.parameters), d_before = snapshot(run.d.trainable_parameters());
  run.trainer->train_on(synthetic_batch(2));  // G
  for (const auto& [n, t] : run.d.trainable_parameters()) CHECK_MESSAGE(t.equal(d_before.at(n)), n);
  int moved = 0;
  for (const auto& [n, t] : run.g.parameters) moved += !t.equal(g_before.at(n));
  CHECK(moved == static_cast<int>(run.g.parameters.size()));
}

TEST_CASE("trainer: Phase II trains the widened alpha head and records the mask degradation of each batch") {
  TinyRun run(2);
  CHECK(run.g.generator->unet->conv_out_channels() == 5);
  const auto g = run.trainer->train_on(synthetic_batch(0));
  CHECK_FALSE(g.mask_degradation.empty());
  bool has_alpha = false;
  for (const auto& [name, v] : g.losses) has_alpha |= name == "G_alpha";
  CHECK(has_alpha);
  CHECK_THROWS_AS(Trainer(*run.g.generator, run.g.parameters, run.d, {}, [] {
                    TrainerOptions o;
                    o.phase = 1;
                    return o;
                  }()),
                  osor::ModelError);
}

TEST_CASE("trainer: continuing from a copy of the state after 3 batches reproduces the uninterrupted run bit for bit") {
  TinyRun straight(2), first(2), resumed(2);
  for (int64_t i = 0; i < 6; ++i) straight.trainer->train_on(synthetic_batch(i));
  for (int64_t i = 0; i < 3; ++i) first.trainer->train_on(synthetic_batch(i));
  copy_state(first, resumed);
  for (int64_t i = 3; i < 6; ++i) resumed.trainer->train_on(synthetic_batch(i));
  CHECK(resumed.trainer->step() == straight.trainer->step());
  for (size_t i = 0; i < straight.g.parameters.size(); ++i)
    CHECK_MESSAGE(resumed.g.parameters[i].second.equal(straight.g.parameters[i].second), straight.g.parameters[i].first);
  const auto d_straight = snapshot(straight.d.trainable_parameters());
  for (const auto& [n, t] : resumed.d.trainable_parameters()) CHECK_MESSAGE(t.equal(d_straight.at(n)), n);
  // A different noise seed gives a different run (the state copy above is what made them equal).
  TinyRun other(2, /*seed=*/8);
  for (int64_t i = 0; i < 6; ++i) other.trainer->train_on(synthetic_batch(i));
  CHECK_FALSE(other.g.parameters[0].second.equal(straight.g.parameters[0].second));
}
