// The size an encoded image declares in its header, read without decoding it, and the limit on it that guards
// every decode in the project against decompression bombs (a 389 KB PNG can declare 20000x20000 pixels and cost
// 11 GB and half a minute to decode). OpenCV-free, so the harness's image reader and the methods that read their
// own output files (precomputed, command) share one parser and one limit.
//
// Parsed: PNG IHDR, JPEG SOFn, WebP VP8/VP8L/VP8X, BMP, TIFF/BigTIFF first IFD, PBM/PGM/PPM/PFM. Other formats are
// bounded while decoding only by OpenCV's own limit, and their callers check the decoded size with
// image_pixels_problem. The default limit is Pillow's DecompressionBombError threshold (2 × MAX_IMAGE_PIXELS).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace osor::model {

constexpr int64_t kDefaultMaxImagePixels = 178956970;  // Pillow: 2 × MAX_IMAGE_PIXELS (1024^3 / 4 / 3)

// The largest width × height an image may have: the value given to set_max_image_pixels, else
// $OSOR_MAX_IMAGE_PIXELS (a positive integer; anything else is a ModelError naming the variable; empty counts as
// unset), else kDefaultMaxImagePixels.
int64_t max_image_pixels();
// pixels > 0: the limit for this process, above the environment; 0: back to $OSOR_MAX_IMAGE_PIXELS or the
// default. Negative: ModelError.
void set_max_image_pixels(int64_t pixels);

struct DeclaredImageSize {
  std::string format;  // "PNG", "JPEG", "WebP", "BMP", "TIFF", "PNM", "PFM"
  uint64_t width = 0, height = 0;
};
// nullopt for a format not parsed here or a header too damaged to read (the decoder then reports it).
std::optional<DeclaredImageSize> declared_image_size(const std::vector<unsigned char>& bytes);

// "" when width × height is within the limit; else the one-line error naming the file, `what` ("PNG header
// declares", "image decodes to"), the size, the limit and how to raise it.
std::string image_pixels_problem(const std::filesystem::path& path, const std::string& what, uint64_t width,
                                 uint64_t height);
// ModelError (image_pixels_problem's message) when the image in `bytes` declares more than the limit.
void check_declared_image_pixels(const std::filesystem::path& path, const std::vector<unsigned char>& bytes);

}  // namespace osor::model
