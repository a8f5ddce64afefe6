// The project's exception hierarchy: one type per layer, each message naming the file or sample and
// the problem. The CLI turns any osor::Error into one line on stderr and a non-zero exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace osor {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Weights, architectures and tensor-shape problems in model/.
class ModelError : public Error {
 public:
  using Error::Error;
};

}  // namespace osor
