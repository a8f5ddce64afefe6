#include "metrics/pixel_options.h"

#include "metrics/error.h"

namespace osor::metrics {

Channels parse_channels(const std::string& name) {
  if (name == "rgb") return Channels::Rgb;
  if (name == "y" || name == "luma") return Channels::Luma;
  throw MetricError("unknown channels '" + name + "' (expected rgb or y)");
}

Region parse_region(const std::string& name) {
  if (name == "full") return Region::Full;
  if (name == "mask") return Region::Mask;
  if (name == "bbox") return Region::BBox;
  throw MetricError("unknown region '" + name + "' (expected full, mask or bbox)");
}

std::string to_string(Channels channels) { return channels == Channels::Rgb ? "rgb" : "y"; }

std::string to_string(Region region) {
  switch (region) {
    case Region::Full: return "full";
    case Region::Mask: return "mask";
    case Region::BBox: return "bbox";
  }
  return "full";
}

}  // namespace osor::metrics
