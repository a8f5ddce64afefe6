#include "model/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <utility>

#include "model/error.h"
#include "model/train/adamw.h"
#include "model/train/autocast_scope.h"
#include "model/train/batch_inputs.h"
#include "model/train/discriminator.h"
#include "model/train/discriminator_step.h"
#include "model/train/mask_degradation.h"
#include "model/train/generator.h"

namespace osor::model::train {
namespace {

const char kRngFormat[] = "osor-trainer-rng-v1";

double value(const at::Tensor& t) { return t.defined() ? t.to(at::kDouble).item<double>() : 0.0; }

// Noise on the VAE's latent grid (8× down) for the global batch, this process's rows.
at::Tensor draw_latent_noise(const TrainBatch& b, int64_t channels, at::Generator& gen, int64_t shard, int64_t shards) {
  const int64_t rows = b.shot.size(0);
  return at::randn({rows * shards, channels, b.shot.size(2) / 8, b.shot.size(3) / 8}, gen,
                   at::TensorOptions().dtype(at::kFloat))
      .narrow(0, shard * rows, rows);
}

}  // namespace

struct Trainer::Impl {
  Generator& generator;
  std::vector<std::pair<std::string, at::Tensor>> g_params;
  Discriminator& d;
  LpipsLoss lpips;
  TrainerOptions options;
  AdamW g_opt, d_opt;
  GradientHook hook;
  at::Generator noise_gen;
  std::mt19937_64 mask_rng;
  int64_t step = 0, batch_count = 0;

  Impl(Generator& g, std::vector<std::pair<std::string, at::Tensor>> params, Discriminator& disc, LpipsLoss lp,
       TrainerOptions o)
      : generator(g), g_params(std::move(params)), d(disc), lpips(std::move(lp)), options(std::move(o)),
        g_opt(g_params, options.config.optimizer), d_opt(d.trainable_parameters(), options.config.optimizer),
        noise_gen(at::detail::createCPUGenerator(options.seed)), mask_rng(options.seed) {}

  // Phase II's input mask: one degradation mode per batch (ConsistentMaskCollate), each sample's own draws.
  at::Tensor degraded_mask(const TrainBatch& b, std::string& mode_name);
  BatchLatents latents(const TrainBatch& b, const at::Tensor& input_mask);
  StepRecord generator_batch(const TrainBatch& b);
  StepRecord discriminator_batch(const TrainBatch& b);
};

at::Tensor Trainer::Impl::degraded_mask(const TrainBatch& b, std::string& mode_name) {
  const int64_t n = b.mask.size(0), h = b.mask.size(2), w = b.mask.size(3);
  const bool has_sam = b.sam_mask.defined();
  MaskDegradationOptions per_batch = options.config.mask_degradation;
  const MaskDegradation mode = sample_degradation(per_batch, h, w, has_sam, mask_rng).mode;
  per_batch.mode_weights.fill(0.0);
  per_batch.mode_weights[static_cast<size_t>(mode)] = 1.0;
  mode_name = to_string(mode);
  std::vector<at::Tensor> out;
  for (int64_t global = 0; global < n * options.shard_count; ++global) {
    const MaskDegradationDraws draws = sample_degradation(per_batch, h, w, has_sam, mask_rng);
    const int64_t i = global - options.shard_index * n;  // the draws of other processes' rows are skipped
    if (i < 0 || i >= n) continue;
    const at::Tensor gt = binarize_mask((b.mask[i][0].cpu() * 255).round().to(at::kByte));
    const at::Tensor sam = has_sam ? (b.sam_mask[i][0].cpu() * 255).round().to(at::kByte) : at::Tensor();
    out.push_back(degrade_mask(gt, draws, options.config.mask_degradation, sam).to(at::kFloat).div(255));
  }
  return at::stack(out).unsqueeze(1).to(b.mask.device());
}

BatchLatents Trainer::Impl::latents(const TrainBatch& b, const at::Tensor& input_mask) {
  const int64_t channels = generator.latent_channels();
  const int64_t shard = options.shard_index, shards = options.shard_count;
  const at::Tensor posterior = draw_latent_noise(b, channels, noise_gen, shard, shards).to(b.shot.device());
  const at::Tensor eps = draw_latent_noise(b, channels, noise_gen, shard, shards).to(b.shot.device());
  const at::Tensor gt = options.phase == 2 ? b.mask : at::Tensor();
  return generator.prepare(b.shot * 2 - 1, input_mask, posterior, eps, options.config.model_t, gt);
}

StepRecord Trainer::Impl::generator_batch(const TrainBatch& b) {
  StepRecord rec;
  const at::Tensor input_mask = options.phase == 2 ? degraded_mask(b, rec.mask_degradation) : b.mask;
  GeneratorStepOptions o;
  o.weights = options.config.loss_weights;
  o.max_grad_norm = options.config.max_grad_norm;
  o.occupancy = options.config.occupancy;
  const auto r = generator_step(generator, options.config.model_t, d, g_opt, latents(b, input_mask), b.bg * 2 - 1,
                                b.mask, o, lpips, hook);
  rec.generator = true;
  rec.losses = {{"G_total", value(r.total)}, {"G_l1", value(r.l1)}, {"G_lpips", value(r.lpips)},
                {"G_disc", value(r.gan)}, {"G_grad_norm", value(r.grad_total_norm)}};
  if (r.alpha.defined())
    for (const auto& [k, v] : {std::pair{"G_alpha", r.alpha}, {"G_alpha_bce", r.alpha_bce}, {"G_alpha_dice", r.alpha_dice}})
      rec.losses.emplace_back(k, value(v));
  return rec;
}

StepRecord Trainer::Impl::discriminator_batch(const TrainBatch& b) {
  StepRecord rec;
  const at::Tensor input_mask = options.phase == 2 ? degraded_mask(b, rec.mask_degradation) : b.mask;
  at::Tensor x;
  {
    at::NoGradGuard no_grad;
    x = generator.forward(latents(b, input_mask), options.config.model_t).x.to(b.bg.scalar_type());
  }
  const auto r = discriminator_step(d, d_opt, b.bg * 2 - 1, x, b.mask, options.config.loss_weights,
                                    options.config.occupancy, {}, hook);
  rec.losses = {{"D", value(r.total)}, {"D_gan", value(r.gan)}, {"D_gp", value(r.gp)},
                {"D_logits_real", value(r.logits_real)}, {"D_logits_fake", value(r.logits_fake)}};
  return rec;
}

Trainer::Trainer(Generator& generator, std::vector<std::pair<std::string, at::Tensor>> generator_params,
                 Discriminator& d, LpipsLoss lpips, TrainerOptions options) {
  if (options.phase != 1 && options.phase != 2)
    throw ModelError("Trainer: phase must be 1 or 2, got " + std::to_string(options.phase));
  if ((options.phase == 2) != generator.has_alpha_head())
    throw ModelError(std::string("Trainer: Phase ") + std::to_string(options.phase) + " needs a generator " +
                     (options.phase == 2 ? "with" : "without") + " the alpha head; this one has " +
                     generator.terminal_layer_shape());
  if (generator_params.empty()) throw ModelError("Trainer: the generator has no trainable tensors");
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
    throw ModelError("Trainer: shard " + std::to_string(options.shard_index) + " of " + std::to_string(options.shard_count));
  impl_ = std::make_unique<Impl>(generator, std::move(generator_params), d, std::move(lpips), std::move(options));
}

Trainer::~Trainer() = default;

StepRecord Trainer::train_on(const TrainBatch& batch) {
  if (!batch.shot.defined() || batch.shot.dim() != 4 || !batch.bg.sizes().equals(batch.shot.sizes()) ||
      batch.mask.dim() != 4 || batch.mask.size(2) != batch.shot.size(2) || batch.mask.size(3) != batch.shot.size(3))
    throw ModelError("Trainer: a batch needs shot and bg [B,3,H,W] and mask [B,1,H,W] of one size");
  auto& m = *impl_;
  const bool generator_turn = m.batch_count % 2 == 0;  // OSOR: (batch_count // grad_accum) % 2 == 0, grad_accum 1
  StepRecord rec;
  {
    const AutocastScope autocast(batch.shot.device(), m.options.mixed_precision);
    rec = generator_turn ? m.generator_batch(batch) : m.discriminator_batch(batch);
  }
  ++m.batch_count;
  if (!generator_turn) ++m.step;
  rec.step = m.step;
  rec.batch_count = m.batch_count;
  return rec;
}

void Trainer::set_gradient_hook(GradientHook hook) { impl_->hook = std::move(hook); }
int64_t Trainer::step() const { return impl_->step; }
int64_t Trainer::batch_count() const { return impl_->batch_count; }
void Trainer::set_progress(int64_t step, int64_t batch_count) {
  if (step < 0 || batch_count < 0 || batch_count < 2 * step)
    throw ModelError("Trainer: inconsistent progress (step " + std::to_string(step) + ", batches " +
                     std::to_string(batch_count) + ")");
  impl_->step = step;
  impl_->batch_count = batch_count;
}
AdamW& Trainer::generator_optimizer() { return impl_->g_opt; }
AdamW& Trainer::discriminator_optimizer() { return impl_->d_opt; }
const std::vector<std::pair<std::string, at::Tensor>>& Trainer::generator_parameters() const { return impl_->g_params; }

std::string Trainer::rng_state() const {
  std::ostringstream out;
  out << kRngFormat << '\n' << impl_->mask_rng << '\n';
  at::Tensor noise;
  {
    std::lock_guard<std::mutex> lock(impl_->noise_gen.mutex());
    noise = impl_->noise_gen.get_state();
  }
  out << noise.numel() << '\n';
  out.write(static_cast<const char*>(noise.data_ptr()), noise.numel());
  return out.str();
}

void Trainer::set_rng_state(const std::string& state) {
  std::istringstream in(state);
  std::string format;
  std::getline(in, format);
  if (format != kRngFormat) throw ModelError("Trainer: the RNG state is not in the format " + std::string(kRngFormat));
  std::mt19937_64 mask_rng;
  int64_t bytes = 0;
  in >> mask_rng >> bytes;
  in.get();
  if (!in || bytes <= 0) throw ModelError("Trainer: truncated RNG state");
  at::Tensor noise = at::empty({bytes}, at::TensorOptions().dtype(at::kByte));
  in.read(static_cast<char*>(noise.data_ptr()), bytes);
  if (in.gcount() != bytes) throw ModelError("Trainer: truncated RNG state (noise generator)");
  {
    std::lock_guard<std::mutex> lock(impl_->noise_gen.mutex());
    impl_->noise_gen.set_state(noise);
  }
  impl_->mask_rng = mask_rng;
}

}  // namespace osor::model::train
