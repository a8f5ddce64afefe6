// The build's absolute locations, given by tests/CMakeLists.txt to this file only (tests/test_paths.h says why).
#include "tests/test_paths.h"

namespace osor::test::location {
const char* const fixtures = OSOR_LOCATION_FIXTURES;
const char* const conformance = OSOR_LOCATION_CONFORMANCE;
const char* const scratch = OSOR_LOCATION_SCRATCH;
const char* const model_configs = OSOR_LOCATION_MODEL_CONFIGS;
const char* const osor_binary = OSOR_LOCATION_OSOR_BINARY;
}  // namespace osor::test::location
