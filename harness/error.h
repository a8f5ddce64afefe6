#pragma once

#include "model/error.h"

namespace osor {

// Files, benchmarks, runs and command-line input: the message names the file or sample.
class HarnessError : public Error {
 public:
  using Error::Error;
};

}  // namespace osor
