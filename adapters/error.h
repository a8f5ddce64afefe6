#pragma once

#include "model/error.h"

namespace osor {

// A removal method failed on a sample (or cannot be set up): the message names the method and sample.
class AdapterError : public Error {
 public:
  using Error::Error;
};

}  // namespace osor
