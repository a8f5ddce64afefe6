// cv::Mat ⇄ tensor conversions at the ARCHITECTURE.md conventions (the only place that knows both).
#pragma once

#include <ATen/core/Tensor.h>

#include <opencv2/core/mat.hpp>

#include <filesystem>

namespace osor::adapters {

// 8-bit BGR (CV_8UC3) → [1,3,H,W] float32 RGB in [0,1] (u8/255, as torchvision's ToTensor).
at::Tensor bgr8_to_tensor(const cv::Mat& bgr);
// [1,3,H,W] or [3,H,W] float in [0,1] (or uint8) → 8-bit BGR, rounded.
cv::Mat tensor_to_bgr8(const at::Tensor& image);
// A method's output file decoded as 8-bit BGR, after its header's declared size is checked against the
// decompression-bomb limit (model/io/image_header.h). AdapterError naming the file when it is too large, empty or
// not an image.
cv::Mat read_output_bgr8(const std::filesystem::path& file);
// [1,1,H,W]/[H,W] mask in {0,1} → CV_8UC1 with 255 where the mask is set.
cv::Mat mask_to_u8(const at::Tensor& mask);

}  // namespace osor::adapters
