// A cheap progress signal of a training run: the generator's masked PSNR on a fixed set of training samples with
// fixed noise, so values at different steps are comparable. PSNR (dB) of the decoded output against the background
// over the masked pixels (all three channels), images in [0, 1] (outputs clamped), averaged over the samples.
#pragma once

#include <cstdint>
#include <vector>

#include "harness/train/corne_dataset.h"

namespace osor::model::train {
class Generator;
}

namespace osor::harness::train {

class TrainValidation {
 public:
  // The first `count` samples at the run's resize; their noise from `seed`.
  TrainValidation(const std::vector<CorneSample>& samples, int64_t count, const ResizeOptions& resize, uint64_t seed);
  double masked_psnr(const model::train::Generator& generator, int64_t t, const c10::Device& device) const;

 private:
  std::vector<LoadedSample> samples_;
  uint64_t seed_;
};

}  // namespace osor::harness::train
