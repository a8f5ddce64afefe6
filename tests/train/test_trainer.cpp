// The training loop on tiny random networks (model/configs/tiny): G and D batches alternate as OSOR's, Phase II
// degrades the input mask, the trainable tensors are OSOR's, a run continued from a copy of its state (tensors,
// optimizer moments, progress, random generators) is bit-identical to the uninterrupted run, and two Gloo
// processes on halves of each batch (tests/train/spawned_workers.h) train what one process does on whole batches.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "model/cpu_threads.h"
#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/train/adamw.h"
#include "model/train/data_parallel.h"
#include "model/train/discriminator.h"
#include "model/train/generator_setup.h"
#include "model/train/sdxl_generator.h"
#include "model/train/trainer.h"
#include "model/unet/unet_2d_condition.h"
#include "tests/test_paths.h"
#include "tests/train/spawned_workers.h"

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

  explicit TinyRun(int phase, uint64_t seed = 7, int64_t shard_index = 0, int64_t shard_count = 1, double adam_eps = 1e-8,
                   c10::Device device = c10::Device(c10::kCPU), at::ScalarType base_dtype = at::kFloat)
      : d(tiny_discriminator()) {
    GeneratorSetup s;
    s.random_config_dir = std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny";
    s.phase = phase;
    s.lora_rank = 4;
    s.lora_alpha = 4;
    s.seed = 11;
    s.device = device;
    s.dtype = base_dtype;
    g = build_trainable_generator(s);
    d.randomize(5);
    d.module().to(device);
    TrainerOptions o;
    o.config = TrainConfig::defaults(Backbone::Sdxl, phase);
    o.config.optimizer.lr = 1e-3;
    o.config.optimizer.eps = adam_eps;
    o.phase = phase;
    o.seed = seed;
    o.shard_index = shard_index;
    o.shard_count = shard_count;
    o.mixed_precision = base_dtype;
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
  CHECK(run.g.generator->terminal_layer_shape() == "conv_out of 4 channels");
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
  CHECK(run.g.generator->terminal_layer_shape() == "conv_out of 5 channels");
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

TEST_CASE("trainer: gradient checkpointing in the generator changes no parameter beyond float32 summation order") {
  // AdamW's eps 1e-4 (as the Gloo test): with 1e-8 a gradient element near 0 turns a rounding difference into an
  // update of up to the learning rate.
  TinyRun plain(2, 7, 0, 1, 1e-4), recomputed(2, 7, 0, 1, 1e-4);
  recomputed.g.generator->set_gradient_checkpointing(true);
  for (int64_t i = 0; i < 4; ++i) {
    const auto a = plain.trainer->train_on(synthetic_batch(i)), b = recomputed.trainer->train_on(synthetic_batch(i));
    CHECK(a.losses.at(0).second == doctest::Approx(b.losses.at(0).second).epsilon(1e-5));
  }
  double worst = 0, largest = 0;
  for (size_t i = 0; i < plain.g.parameters.size(); ++i) {
    const at::Tensor p = plain.g.parameters[i].second.detach(), r = recomputed.g.parameters[i].second.detach();
    worst = std::max(worst, (p - r).abs().max().item<double>());
    largest = std::max(largest, p.abs().max().item<double>());
  }
  MESSAGE("checkpointed vs plain: worst parameter difference " << worst << " (largest parameter " << largest << ")");
  // Two G steps of AdamW at lr 1e-3 move a parameter by up to ~2e-3; the recomputation differs only in rounding.
  CHECK(worst <= 1e-6);
}

namespace {

constexpr const char* kTrainWorker = "trainer: worker process*";
constexpr int64_t kParallelBatches = 4;
// AdamW's first updates are ≈ lr·sign(g): gradient elements near 0 flip sign under any change of float32 summation
// order (train/README.md §3). A larger eps makes the update smooth in g, so the comparison measures the data
// parallelism, not that amplification.
constexpr double kSmoothAdamEps = 1e-4;
// Workers and the one-process reference sum on one intra-op thread each: the reduction order of a CPU kernel
// depends on the thread count, and an earlier test in this process may have changed it.
constexpr int kGlooTestThreads = 1;

// Everything both networks train, by name.
std::vector<std::pair<std::string, at::Tensor>> trained_tensors(TinyRun& run) {
  auto out = run.g.parameters;
  for (const auto& [n, t] : run.d.trainable_parameters()) out.emplace_back("D." + n, t);
  return out;
}

}  // namespace

// Runs only as a worker of the test below: this process's half of each global batch, gradients averaged over Gloo.
TEST_CASE("trainer: worker process of the two-process Gloo training" * doctest::skip()) {
  const char* folder = std::getenv("OSOR_TEST_DIST_WORKER");
  if (folder == nullptr) return;
  const DistributedEnv env = DistributedEnv::from_environment();
  DataParallelOptions options;
  options.timeout = std::chrono::seconds(120);
  DataParallelGroup group(env, c10::Device("cpu"), options);
  const osor::model::IntraOpThreads threads(kGlooTestThreads);
  TinyRun run(1, 7, env.rank, env.world_size, kSmoothAdamEps);
  run.trainer->set_gradient_hook([&group](const std::vector<at::Tensor>& params) {
    std::vector<at::Tensor> grads;
    for (const auto& p : params) grads.push_back(p.grad());
    group.all_reduce_mean(grads);
  });
  for (int64_t i = 0; i < kParallelBatches; ++i) {
    const TrainBatch global = synthetic_batch(i);
    const int64_t rows = global.shot.size(0) / env.world_size;
    run.trainer->train_on({global.shot.narrow(0, env.rank * rows, rows), global.bg.narrow(0, env.rank * rows, rows),
                           global.mask.narrow(0, env.rank * rows, rows), {}});
  }
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [n, t] : trained_tensors(run)) out.emplace_back(n, t.detach());
  osor::model::write_safetensors(std::filesystem::path(folder) / ("rank" + std::to_string(env.rank) + ".safetensors"), out);
}

TEST_CASE("trainer: two Gloo processes on halves of each batch end with one process's parameters on the whole batch") {
  if (!DataParallelGroup::available(c10::Device("cpu"))) {
    MESSAGE("SKIPPED: this build has no c10d Gloo back end (Gloo's headers, libgloo-dev, were not found)");
    return;
  }
  const auto folder = osor::test::process_scratch_dir("trainer_gloo");
  const int port = osor::test::free_port();
  std::vector<osor::test::Worker> workers = {osor::test::spawn_worker(folder, 0, 2, port, kTrainWorker),
                                             osor::test::spawn_worker(folder, 1, 2, port, kTrainWorker)};
  const std::vector<int> status = osor::test::wait_for(workers, std::chrono::seconds(300));
  for (size_t rank = 0; rank < workers.size(); ++rank)
    REQUIRE_MESSAGE(status[rank] == 0, "worker " << rank << " exited with " << status[rank] << ":\n"
                                                 << osor::test::read_text(workers[rank].log));
  const osor::model::IntraOpThreads threads(kGlooTestThreads);
  TinyRun single(1, 7, 0, 1, kSmoothAdamEps);
  for (int64_t i = 0; i < kParallelBatches; ++i) single.trainer->train_on(synthetic_batch(i));
  const auto expected = trained_tensors(single);
  const auto rank0 = osor::model::SafetensorsFile::open(folder / "rank0.safetensors");
  const auto rank1 = osor::model::SafetensorsFile::open(folder / "rank1.safetensors");
  double worst = 0;
  for (const auto& [name, t] : expected) {
    // The replicas are identical; against one process they differ by the order of float32 sums (a mean of two
    // half-batch gradients vs the whole batch's), far below the parameters' movement in these steps.
    CHECK_MESSAGE(rank0.tensor(name).equal(rank1.tensor(name)), name);
    const double diff = (rank0.tensor(name) - t.detach()).abs().max().item<double>();
    worst = std::max(worst, diff);
    CHECK_MESSAGE(diff <= 1e-5, name << ": max |diff| " << diff);
  }
  TinyRun untrained(1, 7, 0, 1, kSmoothAdamEps);
  const auto initial = trained_tensors(untrained);
  double moved = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    moved = std::max(moved, (expected[i].second - initial[i].second).abs().max().item<double>());
  CHECK(moved > 1000 * worst);
  MESSAGE("two Gloo processes vs one: worst parameter difference " << worst << " over " << expected.size()
                                                                   << " tensors; the largest movement " << moved);
}

TEST_CASE("trainer on cuda: tiny G and D steps match the CPU run, and a bf16 autocast step gives finite losses") {
  if (!at::hasCUDA()) {
    MESSAGE("SKIPPED: no CUDA device");
    return;
  }
  // TF32 off: the comparison is of the same float32 arithmetic on two devices.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  const c10::Device cuda(c10::kCUDA);
  TinyRun cpu(2, 7, 0, 1, kSmoothAdamEps), gpu(2, 7, 0, 1, kSmoothAdamEps, cuda);
  for (int64_t i = 0; i < 4; ++i) {
    const TrainBatch b = synthetic_batch(i);
    cpu.trainer->train_on(b);
    gpu.trainer->train_on({b.shot.to(cuda), b.bg.to(cuda), b.mask.to(cuda), {}});
  }
  const auto expected = trained_tensors(cpu), got = trained_tensors(gpu);
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i)
    worst = std::max(worst, (got[i].second.cpu() - expected[i].second).abs().max().item<double>());
  MESSAGE("cuda vs cpu after 2 G and 2 D steps: worst parameter difference " << worst);
  CHECK(worst <= 1e-5);

  TinyRun bf16(1, 7, 0, 1, 1e-8, cuda, at::kBFloat16);
  const TrainBatch b = synthetic_batch(0);
  for (int i = 0; i < 2; ++i) {
    const auto rec = bf16.trainer->train_on({b.shot.to(cuda), b.bg.to(cuda), b.mask.to(cuda), {}});
    for (const auto& [name, v] : rec.losses) CHECK_MESSAGE(std::isfinite(v), name);
  }
  for (const auto& [name, t] : bf16.g.parameters) CHECK_MESSAGE(std::string(c10::toString(t.scalar_type())) == "Float", name);
}
