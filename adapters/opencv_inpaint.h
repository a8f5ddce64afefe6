// opencv-telea / opencv-ns: classical inpainting with cv::inpaint (Telea 2004 fast marching, or
// Bertalmio et al. 2001 Navier-Stokes). Options: radius=R (default 3 px, the neighbourhood considered),
// dilate=D (grow the mask by D px first; default 0).
#pragma once

#include "adapters/remover.h"

namespace osor::adapters {

class OpenCvInpaintRemover final : public Remover {
 public:
  enum class Algorithm { Telea, NavierStokes };
  OpenCvInpaintRemover(Algorithm algorithm, const MethodSpec& spec);
  std::string id() const override;
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  Algorithm algorithm_;
  double radius_ = 3;
  int dilate_ = 0;
};

}  // namespace osor::adapters
