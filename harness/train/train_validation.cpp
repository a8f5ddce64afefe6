#include "harness/train/train_validation.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>

#include "harness/error.h"
#include "model/train/batch_inputs.h"
#include "model/train/generator.h"

namespace osor::harness::train {

TrainValidation::TrainValidation(const std::vector<CorneSample>& samples, int64_t count, const ResizeOptions& resize,
                                 uint64_t seed)
    : seed_(seed) {
  for (int64_t i = 0; i < count && i < static_cast<int64_t>(samples.size()); ++i)
    samples_.push_back(load_corne_sample(samples[static_cast<size_t>(i)], resize));
  if (samples_.empty()) throw HarnessError("training validation: no samples");
}

double TrainValidation::masked_psnr(const model::train::Generator& generator, int64_t t,
                                    const c10::Device& device) const {
  at::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed_);
  const int64_t channels = generator.latent_channels();
  double sum = 0;
  int64_t used = 0;
  for (const auto& s : samples_) {
    const at::Tensor shot = s.shot.unsqueeze(0).to(device), bg = s.bg.unsqueeze(0).to(device);
    const at::Tensor mask = s.mask.unsqueeze(0).to(device);
    const std::vector<int64_t> latent{1, channels, shot.size(2) / 8, shot.size(3) / 8};
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor posterior = at::randn(latent, gen, f32).to(device), eps = at::randn(latent, gen, f32).to(device);
    const auto latents = generator.prepare(shot * 2 - 1, mask, posterior, eps, t, generator.has_alpha_head() ? mask : at::Tensor());
    const at::Tensor x = ((generator.forward(latents, t).x.to(at::kFloat) + 1) / 2).clamp(0, 1);
    const double pixels = mask.sum().item<double>() * 3;
    if (pixels <= 0) continue;
    const double mse = ((x - bg).pow(2) * mask).sum().item<double>() / pixels;
    sum += 10 * std::log10(1.0 / std::max(mse, 1e-12));
    ++used;
  }
  if (used == 0) throw HarnessError("training validation: every validation sample has an empty mask");
  return sum / static_cast<double>(used);
}

}  // namespace osor::harness::train
