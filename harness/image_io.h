// Image and mask files ⇄ tensors (ARCHITECTURE.md conventions). The only place that decodes images.
//
// Reading: the format is recognised by the file's content, not its extension (PNG, JPEG, WebP, and
// whatever else OpenCV decodes). 8-bit and 16-bit files. Channels are converted as PIL's
// `.convert("RGB")` does: gray is replicated, alpha is dropped (not composited), palettes expanded.
// EXIF orientation is ignored, as PIL's Image.open does. 16-bit files are scaled by 1/65535 (PIL would
// clip them to 255 instead; nobody wants that).
// Masks: read as one channel (colour masks are converted to gray with OpenCV's BT.601 weights),
// object where value > 127 (white-is-object) or <= 127 (black-is-object, e.g. RORD's originals).
//
// Decompression bombs: a 389 KB PNG can declare 20000x20000 pixels and cost 11 GB and half a minute to decode.
// Before decoding, the width and height the file declares are read from its header (PNG IHDR, JPEG SOFn, WebP
// VP8/VP8L/VP8X, BMP, TIFF/BigTIFF first IFD, PBM/PGM/PPM/PFM) and an image above max_image_pixels() is refused
// with an error naming the file, its declared size, the limit and how to raise it. The default is Pillow's
// DecompressionBombError threshold (2 × Image.MAX_IMAGE_PIXELS). Formats not parsed here (OpenEXR, Radiance HDR,
// JPEG 2000, Sun raster, PAM) are bounded while decoding only by OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS,
// default 2^30, read once per process), and refused after decoding if above ours.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/io/image_header.h"

namespace osor::harness {

// The limit and the header parsers are model/io/image_header.h's (shared with the methods that read their own
// output files); the harness names them here as well.
using model::DeclaredImageSize;
using model::declared_image_size;
using model::kDefaultMaxImagePixels;
using model::max_image_pixels;
using model::set_max_image_pixels;

// Throws HarnessError naming `path` when the image in `bytes` declares more than max_image_pixels() pixels.
// Every decode in the project should call it first (read_image and read_mask do).
void check_image_pixels(const std::filesystem::path& path, const std::vector<unsigned char>& bytes);

struct LoadedImage {
  at::Tensor rgb;  // [1,3,H,W] float32 in [0,1]
  int bit_depth = 8;
};

// Both readers refuse images above max_image_pixels() before decoding them (check_image_pixels).
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

// What read_image returns for the file write_image(path.png, image) writes: the image quantised to 8 bits exactly
// as write_image does, as float32 in [0,1]. The runner scores this instead of decoding the file it just wrote.
at::Tensor as_written_8bit(const at::Tensor& image);

// A small JPEG of `image` ([1,3,H,W] in [0,1]) at `path`: its long side reduced to at most `long_side` by
// averaging whole blocks of pixels (the gallery's thumbnails, reports/thumbnails.h). Atomic.
void write_thumbnail(const std::filesystem::path& path, const at::Tensor& image, int long_side);

// True when `path` is an 8-bit RGB PNG (IHDR bit depth 8, colour type 2): read_image of a copy of it gives the same
// pixels as any 8-bit decode of it, so an output that is exactly this file can be linked instead of re-encoded.
bool is_rgb8_png(const std::filesystem::path& path);

}  // namespace osor::harness
