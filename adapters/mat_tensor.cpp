#include "adapters/mat_tensor.h"

#include <ATen/ATen.h>

#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "adapters/error.h"
#include "model/io/image_header.h"

namespace osor::adapters {

at::Tensor bgr8_to_tensor(const cv::Mat& bgr) {
  if (bgr.type() != CV_8UC3) throw AdapterError("bgr8_to_tensor: expected an 8-bit 3-channel image");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  const at::Tensor hwc = at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::TensorOptions().dtype(at::kByte));
  return hwc.to(at::kFloat).div_(255.0).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

cv::Mat tensor_to_bgr8(const at::Tensor& image) {
  at::Tensor t = image.detach().cpu();
  if (t.dim() == 4) t = t[0];
  if (t.dim() != 3 || t.size(0) != 3) throw AdapterError("tensor_to_bgr8: expected [1,3,H,W] or [3,H,W]");
  if (t.scalar_type() != at::kByte) t = t.to(at::kDouble).clamp(0, 1).mul(255).round().to(at::kByte);
  t = t.permute({1, 2, 0}).contiguous();
  const cv::Mat rgb(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC3, t.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);  // allocates: the result does not alias t
  return bgr;
}

cv::Mat mask_to_u8(const at::Tensor& mask) {
  at::Tensor m = mask.detach().cpu();
  while (m.dim() > 2) m = m[0];
  m = m.gt(0.5).to(at::kByte).mul(255).contiguous();
  return cv::Mat(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_8UC1, m.data_ptr()).clone();
}

cv::Mat read_output_bgr8(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw AdapterError(file.string() + ": cannot open the output file");
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw AdapterError(file.string() + ": empty output file (0 bytes)");
  try {
    model::check_declared_image_pixels(file, bytes);
  } catch (const ModelError& e) {
    throw AdapterError(e.what());
  }
  cv::Mat bgr;
  try {
    bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw AdapterError(file.string() + ": cannot decode image: " + e.what());
  }
  if (bgr.empty()) throw AdapterError(file.string() + ": cannot decode image (not an image file, or corrupt)");
  const std::string too_large = model::image_pixels_problem(file, "image decodes to", static_cast<uint64_t>(bgr.cols),
                                                            static_cast<uint64_t>(bgr.rows));
  if (!too_large.empty()) throw AdapterError(too_large);
  return bgr;
}

}  // namespace osor::adapters
