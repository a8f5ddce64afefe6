#include "model/train/discriminator_step.h"

#include <ATen/ATen.h>

#include "model/train/adamw.h"
#include "model/train/adversarial_loss.h"
#include "model/train/discriminator.h"

namespace osor::model::train {
namespace {

at::Tensor mean_of_head_means(const std::vector<at::Tensor>& logits) {
  at::Tensor sum = logits.at(0).mean();
  for (size_t k = 1; k < logits.size(); ++k) sum = sum + logits[k].mean();
  return (sum / static_cast<double>(logits.size())).detach();
}

std::vector<at::Tensor> detached(const std::vector<at::Tensor>& v) {
  std::vector<at::Tensor> out;
  for (const auto& t : v) out.push_back(t.detach());
  return out;
}

}  // namespace

DiscriminatorStepResult discriminator_step(Discriminator& d, AdamW& optimizer, const at::Tensor& real_images,
                                           const at::Tensor& fake_images, const at::Tensor& mask,
                                           const LossWeights& weights, const OccupancyOptions& occupancy,
                                           const std::function<void(const std::string&)>& observe,
                                           const GradientHook& gradient_hook) {
  d.train(true);
  optimizer.zero_grad();
  const auto real = d.forward(real_images);
  if (observe) observe("D0");
  const auto fake = d.forward(fake_images.detach());
  if (observe) observe("D1");
  const at::Tensor gan = discriminator_loss(real.logits, fake.logits, mask, occupancy).total;
  const R1Terms r1 = r1_penalty(d, real.features);
  if (observe) observe("R1");
  const at::Tensor gp = r1.total * weights.gp;
  const at::Tensor total = gan + gp;
  total.backward();
  if (gradient_hook) {
    std::vector<at::Tensor> params;
    for (const auto& [name, p] : optimizer.params()) params.push_back(p);
    gradient_hook(params);
  }
  optimizer.step();

  DiscriminatorStepResult r;
  r.total = total.detach();
  r.gan = gan.detach();
  r.gp = gp.detach();
  r.r1_raw = r1.total.detach();
  r.logits_real = mean_of_head_means(real.logits);
  r.logits_fake = mean_of_head_means(fake.logits);
  r.real_logits = detached(real.logits);
  r.fake_logits = detached(fake.logits);
  return r;
}

}  // namespace osor::model::train
