#include "model/train/generator_step.h"

#include <ATen/ATen.h>

#include "model/error.h"
#include "model/train/adamw.h"
#include "model/train/adversarial_loss.h"
#include "model/train/batch_inputs.h"
#include "model/train/discriminator.h"
#include "model/train/reconstruction_loss.h"

namespace osor::model::train {
namespace {

// OSOR's D.eval().requires_grad_(False) for the G step; the D step makes the heads trainable again.
class FrozenDiscriminator {
 public:
  explicit FrozenDiscriminator(Discriminator& d) : d_(d), params_(d.trainable_parameters()), was_training_(d.is_training()) {
    d_.train(false);
    for (auto& [name, p] : params_) p.requires_grad_(false);
  }
  ~FrozenDiscriminator() {
    for (auto& [name, p] : params_) p.requires_grad_(true);
    d_.train(was_training_);
  }
  FrozenDiscriminator(const FrozenDiscriminator&) = delete;
  FrozenDiscriminator& operator=(const FrozenDiscriminator&) = delete;

 private:
  Discriminator& d_;
  std::vector<std::pair<std::string, at::Tensor>> params_;  // trainable_parameters() lists only those requiring grad
  bool was_training_;
};

std::vector<at::Tensor> detached(const std::vector<at::Tensor>& v) {
  std::vector<at::Tensor> out;
  for (const auto& t : v) out.push_back(t.detach());
  return out;
}

GeneratorOutput detached(const GeneratorOutput& g) {
  GeneratorOutput out;
  out.prediction = g.prediction.detach();
  if (g.mask_logits.defined()) out.mask_logits = g.mask_logits.detach();
  out.x0 = g.x0.detach();
  out.decoder_input = g.decoder_input.detach();
  out.x = g.x.detach();
  return out;
}

}  // namespace

GeneratorStepResult generator_step(const Generator& generator, int64_t t, Discriminator& d, AdamW& optimizer,
                                   const BatchLatents& batch, const at::Tensor& bg, const at::Tensor& loss_mask,
                                   const GeneratorStepOptions& options, const LpipsLoss& lpips,
                                   const GradientHook& gradient_hook) {
  if (!lpips) throw ModelError("generator_step: no LPIPS loss given");
  const FrozenDiscriminator frozen(d);
  optimizer.zero_grad();
  const GeneratorOutput out = generator.forward(batch, t);
  const auto& w = options.weights;
  GeneratorStepResult r;
  // Losses and D in float32 when the generator runs in a half type (OSOR: autocast keeps the losses in float32).
  const bool half = out.x.scalar_type() == at::kBFloat16 || out.x.scalar_type() == at::kHalf;
  const at::Tensor x = half ? out.x.to(at::kFloat) : out.x;
  const std::vector<at::Tensor> logits = d.forward(x).logits;
  r.l1_raw = masked_l1_loss(x, bg, loss_mask);
  r.lpips_raw = lpips(x, bg);
  r.gan_raw = generator_loss(logits, loss_mask, options.occupancy).total;
  at::Tensor total = w.l1 * r.l1_raw + w.lpips * r.lpips_raw + w.gan * r.gan_raw;
  if (out.mask_logits.defined()) {
    if (!batch.gt_mask_latent.defined())
      throw ModelError("generator_step: the Phase II generator needs the batch's gt_mask_latent (alpha target)");
    const AlphaTerms alpha = alpha_loss(out.mask_logits, batch.gt_mask_latent, w.alpha_bce, w.alpha_dice);
    total = total + alpha.total;
    r.alpha = alpha.total.detach();
    r.alpha_bce = alpha.bce_weighted.detach();
    r.alpha_dice = alpha.dice_weighted.detach();
  }
  total.backward();
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : optimizer.params()) params.push_back(p);
  if (gradient_hook) gradient_hook(params);
  r.grad_total_norm = clip_grad_norm(params, options.max_grad_norm);
  optimizer.step();
  r.output = detached(out);
  r.total = total.detach();
  r.l1 = (w.l1 * r.l1_raw).detach();
  r.lpips = (w.lpips * r.lpips_raw).detach();
  r.gan = (w.gan * r.gan_raw).detach();
  r.l1_raw = r.l1_raw.detach();
  r.lpips_raw = r.lpips_raw.detach();
  r.gan_raw = r.gan_raw.detach();
  r.fake_logits = detached(logits);
  return r;
}

}  // namespace osor::model::train
