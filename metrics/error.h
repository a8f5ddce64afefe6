#pragma once

#include "model/error.h"

namespace osor {

// Invalid metric inputs (shape or size mismatch, empty region, image too small for a window).
class MetricError : public Error {
 public:
  using Error::Error;
};

}  // namespace osor
