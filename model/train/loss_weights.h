// The weights of OSOR's training losses, defaults = the official configs (osor-sdxlinpainting/configs/phase{1,2}.yaml;
// spec §1.1). FLUX differs in lpips (3.0) and l1 (0.5): flux_defaults().
#pragma once

namespace osor::model::train {

struct LossWeights {
  double l1 = 0.25;          // masked L1 (MaskAwareL1Loss)
  double lpips = 5.0;        // LPIPS-VGG on [−1, 1] images, batch mean
  double gan = 0.3;          // non-saturating G loss, normalised by occupied area
  double gp = 60000.0;       // R1 on the heads' inputs, added to the D loss
  double alpha_bce = 1.0;    // Phase II alpha head: BCE with logits
  double alpha_dice = 2.0;   // Phase II alpha head: Dice (smooth 1)

  static LossWeights sdxl_defaults() { return {}; }
  static LossWeights flux_defaults() {
    LossWeights w;
    w.lpips = 3.0;
    w.l1 = 0.5;
    return w;
  }
};

}  // namespace osor::model::train
