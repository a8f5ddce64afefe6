// opencv-telea / opencv-ns: classical inpainting with cv::inpaint (Telea 2004 fast marching, or
// Bertalmio et al. 2001 Navier-Stokes). Options: radius=R (default 3 px, the neighbourhood considered),
// dilate=D (grow the mask by D px first; default 0).
#pragma once

#include <memory>

#include "adapters/remover.h"

namespace osor::adapters {

// The registry rows' factories (adapters/registry.cpp): AdapterError for bad options.
std::unique_ptr<Remover> make_opencv_telea_remover(const MethodSpec& spec, const RemoverContext& context);
std::unique_ptr<Remover> make_opencv_ns_remover(const MethodSpec& spec, const RemoverContext& context);

}  // namespace osor::adapters
