// Image and mask files ⇄ tensors (ARCHITECTURE.md conventions). The only place that decodes images.
//
// Reading: the format is recognised by the file's content, not its extension (PNG, JPEG, WebP, and
// whatever else OpenCV decodes). 8-bit and 16-bit files. Channels are converted as PIL's
// `.convert("RGB")` does: gray is replicated, alpha is dropped (not composited), palettes expanded.
// EXIF orientation is ignored, as PIL's Image.open does. 16-bit files are scaled by 1/65535 (PIL would
// clip them to 255 instead; nobody wants that).
// Masks: read as one channel (colour masks are converted to gray with OpenCV's BT.601 weights),
// object where value > 127 (white-is-object) or <= 127 (black-is-object, e.g. RORD's originals).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

namespace osor::harness {

struct LoadedImage {
  at::Tensor rgb;  // [1,3,H,W] float32 in [0,1]
  int bit_depth = 8;
};

LoadedImage read_image(const std::filesystem::path& path);

enum class MaskPolarity { WhiteIsObject, BlackIsObject };
MaskPolarity parse_mask_polarity(const std::string& name);  // "white" | "black"

// [1,1,H,W] float32 in {0,1}. When height/width are given and differ from the file's size, the mask is
// resized with nearest neighbour to that size and a warning names the file and both sizes.
at::Tensor read_mask(const std::filesystem::path& path, MaskPolarity polarity = MaskPolarity::WhiteIsObject,
                     int64_t height = -1, int64_t width = -1);

// Writes [1,3,H,W] or [3,H,W] in [0,1] (or uint8) as an 8-bit file; the format follows the extension
// (.png, .jpg, .webp). [1,1,H,W]/[H,W] tensors are written as gray. Atomic: temp file + rename.
void write_image(const std::filesystem::path& path, const at::Tensor& image);

}  // namespace osor::harness
