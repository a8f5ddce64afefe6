// Options shared by the pixel metrics (PSNR, SSIM): which channels and which region are scored.
//
// Channels
//   rgb  : the three 8-bit channels.
//   y    : luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 weights), computed in float64 on the 0..255
//          values with no rounding and no offset, data range 255. This is neither scikit-image's
//          rgb2gray (BT.709 weights on [0,1]) nor BasicSR's studio-range Y (16 + ...).
// Region
//   full : the whole image.
//   mask : only the pixels where the mask is set (PSNR: MSE over those pixels and all channels;
//          SSIM: mean of the full, uncropped SSIM map over those pixels).
//   bbox : the images cropped to the mask's bounding box, then scored as whole images.
#pragma once

#include <string>

namespace osor::metrics {

enum class Channels { Rgb, Luma };
enum class Region { Full, Mask, BBox };

Channels parse_channels(const std::string& name);  // "rgb" | "y"
Region parse_region(const std::string& name);      // "full" | "mask" | "bbox"
std::string to_string(Channels channels);
std::string to_string(Region region);

struct PixelOptions {
  Channels channels = Channels::Rgb;
  Region region = Region::Full;
};

}  // namespace osor::metrics
