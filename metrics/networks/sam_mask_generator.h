// segment-anything's SamAutomaticMaskGenerator (automatic_mask_generator.py), output_mode "binary_mask": a point
// grid per crop layer, prompts decoded in batches (the image encoder runs once per crop), rows kept when the
// predicted IoU > pred_iou_thresh and the stability score ≥ stability_score_thresh, binary masks (logit > 0), boxes,
// masks touching a crop edge that is not an image edge dropped, box NMS per crop, NMS across crops (smaller crops
// win), optional small-region removal (holes, then islands) with a final NMS. CFD uses the defaults (32×32 points,
// 0.88, 0.95/1.0, NMS 0.7, no crops, no small-region removal).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "metrics/mask_record.h"

namespace osor::metrics {

class Sam;

struct SamGeneratorOptions {
  int64_t points_per_side = 32;
  int64_t points_per_batch = 64;
  double pred_iou_thresh = 0.88;
  double stability_score_thresh = 0.95;
  double stability_score_offset = 1.0;
  double box_nms_thresh = 0.7;
  int64_t crop_n_layers = 0;
  double crop_nms_thresh = 0.7;
  double crop_overlap_ratio = 512.0 / 1500.0;
  int64_t crop_n_points_downscale_factor = 1;
  int64_t min_mask_region_area = 0;
};

// What the generator asks of the model: set a crop's picture, then decode batches of single-point prompts.
class SamPromptDecoder {
 public:
  virtual ~SamPromptDecoder() = default;
  virtual void set_image(const at::Tensor& crop_u8) = 0;  // uint8 [3,h,w]
  // points [B,2] float64 (x, y) in the crop frame → (mask logits [B,K,h,w] float32 at the crop's size,
  // IoU predictions [B,K] float32); SamPredictor.predict_torch(multimask_output=True, return_logits=True).
  virtual std::pair<at::Tensor, at::Tensor> decode(const at::Tensor& points) = 0;
};

// The decoder of a Sam model (encoder once per set_image, the prompts of a batch decoded together).
std::unique_ptr<SamPromptDecoder> sam_prompt_decoder(const Sam& sam);

// SamAutomaticMaskGenerator.generate on a picture uint8 [3,H,W]; the records in the reference's order.
std::vector<MaskRecord> generate_sam_masks(const at::Tensor& picture_u8, SamPromptDecoder& decoder,
                                           const SamGeneratorOptions& options = {});

}  // namespace osor::metrics
