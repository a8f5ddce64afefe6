#include "adapters/opencv_inpaint.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "adapters/error.h"
#include "adapters/mat_tensor.h"

namespace osor::adapters {
namespace {

class OpenCvInpaintRemover final : public Remover {
 public:
  // `algorithm`: cv::INPAINT_TELEA or cv::INPAINT_NS.
  OpenCvInpaintRemover(int algorithm, const MethodSpec& spec);
  std::string id() const override;
  RemovalOutput remove(const RemovalInput& input) override;
  bool thread_safe() const override { return true; }

 private:
  int algorithm_;
  std::string name_;
  double radius_ = 3;
  int dilate_ = 0;
};

OpenCvInpaintRemover::OpenCvInpaintRemover(int algorithm, const MethodSpec& spec)
    : algorithm_(algorithm), name_(spec.name) {
  for (const auto& option : spec.options)
    if (option.first != "radius" && option.first != "dilate")
      throw AdapterError("method " + spec.name + ": unknown option '" + option.first + "' (options: radius, dilate)");
  radius_ = option_number(spec, "radius", radius_);
  dilate_ = static_cast<int>(option_number(spec, "dilate", dilate_));
  if (radius_ <= 0) throw AdapterError("method " + spec.name + ": radius must be positive");
  if (dilate_ < 0) throw AdapterError("method " + spec.name + ": dilate must be >= 0");
}

// The canonical text: radius always (as %g), dilate only when it dilates.
std::string OpenCvInpaintRemover::id() const {
  MethodSpec spec;
  spec.name = name_;
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
  cv::inpaint(bgr, mask, result, radius_, algorithm_);
  RemovalOutput out;
  out.image = bgr8_to_tensor(result);
  return out;
}

}  // namespace

std::unique_ptr<Remover> make_opencv_telea_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<OpenCvInpaintRemover>(cv::INPAINT_TELEA, spec);
}

std::unique_ptr<Remover> make_opencv_ns_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<OpenCvInpaintRemover>(cv::INPAINT_NS, spec);
}

}  // namespace osor::adapters
