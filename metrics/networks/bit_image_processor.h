// The slow (PIL) BitImageProcessor of transformers v4.45–v4.57, which AutoImageProcessor loads for the
// facebook/dinov2-* checkpoints (preprocessor_config.json: shortest_edge 256, crop 224, bicubic, ImageNet mean/std):
//  1. resize the uint8 image so that its shorter edge is `shortest_edge` (long edge int(s·long/short)) with
//     Pillow's filter `resample` (reducing_gap None), on the 8-bit image, so the bytes are Pillow's;
//  2. centre crop at top = (H − ch)//2, left = (W − cw)//2 (zero padding when the image is smaller);
//  3. rescale float32(float64(x) · rescale_factor); 4. normalise (x − mean)/std in float32.
// transformers ≥ 5 loads the fast (torchvision) processor instead, whose resize differs; not reproduced here.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <filesystem>
#include <string>

namespace osor::metrics {

struct BitProcessorConfig {
  bool do_resize = true;
  int64_t shortest_edge = 256;
  int resample = 3;  // Pillow's numbering: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic
  bool do_center_crop = true;
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{0.485, 0.456, 0.406};
  std::array<double, 3> image_std{0.229, 0.224, 0.225};

  // `text` is preprocessor_config.json; `label` names it in errors. Absent fields keep the defaults above.
  static BitProcessorConfig from_json_text(const std::string& text, const std::string& label);
  static BitProcessorConfig from_json_file(const std::filesystem::path& path);
};

// The intermediate images of one call, uint8 [3,h,w], and the result [1,3,ch,cw] float32.
struct BitProcessorSteps {
  at::Tensor resized, cropped, pixel_values;
};

// image: uint8 [3,H,W] RGB (CPU).
BitProcessorSteps bit_image_processor_steps(const at::Tensor& image, const BitProcessorConfig& config);
at::Tensor bit_image_processor(const at::Tensor& image, const BitProcessorConfig& config);

}  // namespace osor::metrics
