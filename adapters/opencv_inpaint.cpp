#include "adapters/opencv_inpaint.h"

#include <ATen/ATen.h>

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "adapters/error.h"
#include "adapters/mat_tensor.h"

namespace osor::adapters {

OpenCvInpaintRemover::OpenCvInpaintRemover(Algorithm algorithm, const MethodSpec& spec) : algorithm_(algorithm) {
  for (const auto& [key, value] : spec.options)
    if (key != "radius" && key != "dilate")
      throw AdapterError("method " + spec.name + ": unknown option '" + key + "' (options: radius, dilate)");
  radius_ = option_number(spec, "radius", 3);
  dilate_ = static_cast<int>(option_number(spec, "dilate", 0));
  if (radius_ <= 0) throw AdapterError("method " + spec.name + ": radius must be positive");
  if (dilate_ < 0) throw AdapterError("method " + spec.name + ": dilate must be >= 0");
}

std::string OpenCvInpaintRemover::id() const {
  MethodSpec spec;
  spec.name = algorithm_ == Algorithm::Telea ? "opencv-telea" : "opencv-ns";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", radius_);
  spec.options["radius"] = buf;
  if (dilate_ > 0) spec.options["dilate"] = std::to_string(dilate_);
  return spec.text();
}

RemovalOutput OpenCvInpaintRemover::remove(const RemovalInput& input) {
  const cv::Mat bgr = tensor_to_bgr8(input.image);
  cv::Mat mask = mask_to_u8(input.mask);
  if (mask.rows != bgr.rows || mask.cols != bgr.cols)
    throw AdapterError(id() + ": sample " + input.id + ": mask and image differ in size");
  if (dilate_ > 0)
    cv::dilate(mask, mask, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * dilate_ + 1, 2 * dilate_ + 1)));
  cv::Mat result;
  cv::inpaint(bgr, mask, result, radius_, algorithm_ == Algorithm::Telea ? cv::INPAINT_TELEA : cv::INPAINT_NS);
  RemovalOutput out;
  out.image = bgr8_to_tensor(result);
  return out;
}

}  // namespace osor::adapters
