#include "model/io/image_header.h"

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "model/error.h"

namespace osor::model {
namespace {

using Bytes = std::vector<unsigned char>;

std::atomic<int64_t> g_max_pixels_override{0};  // 0: none (environment or default)

// --- Declared sizes, read from the headers as the decoders OpenCV uses read them. Each parser returns nullopt
// when the signature is not its format's or the header is cut short; the decoder then has the last word.

bool has(const Bytes& b, size_t pos, size_t width) { return pos <= b.size() && width <= b.size() - pos; }

bool matches(const Bytes& b, size_t pos, const char* text, size_t width) {
  return has(b, pos, width) && std::memcmp(b.data() + pos, text, width) == 0;
}

// An unsigned integer of `width` bytes at `pos` (the caller checked the range).
uint64_t read_uint(const Bytes& b, size_t pos, size_t width, bool little_endian) {
  uint64_t v = 0;
  for (size_t k = 0; k < width; ++k) v |= uint64_t{b[pos + k]} << (8 * (little_endian ? k : width - 1 - k));
  return v;
}

std::optional<DeclaredImageSize> png_size(const Bytes& b) {
  // Signature, then the IHDR chunk (length, "IHDR", big-endian width and height), which must come first.
  if (!matches(b, 0, "\x89PNG\r\n\x1a\n", 8) || !matches(b, 12, "IHDR", 4) || !has(b, 16, 8)) return std::nullopt;
  return DeclaredImageSize{"PNG", read_uint(b, 16, 4, false), read_uint(b, 20, 4, false)};
}

// The first frame header (SOF0..SOF15 but DHT C4, JPG C8, DAC CC) before the first scan, as libjpeg reads it.
std::optional<DeclaredImageSize> jpeg_size(const Bytes& b) {
  if (!has(b, 0, 4) || b[0] != 0xFF || b[1] != 0xD8) return std::nullopt;
  size_t i = 2;
  while (has(b, i, 4)) {
    if (b[i] != 0xFF) return std::nullopt;
    const unsigned marker = b[i + 1];
    if (marker == 0xFF) {  // a fill byte before the marker
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      i += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // end of image or a scan before any frame header
    const size_t length = read_uint(b, i + 2, 2, false);        // counts its own two bytes
    if (length < 2) return std::nullopt;
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      // Length, precision (1 byte), height, width (2 bytes each, big-endian).
      if (length < 7 || !has(b, i + 5, 4)) return std::nullopt;
      return DeclaredImageSize{"JPEG", read_uint(b, i + 7, 2, false), read_uint(b, i + 5, 2, false)};
    }
    i += 2 + length;
  }
  return std::nullopt;
}

// The first chunk after "RIFF" <size> "WEBP": VP8X holds the canvas (what libwebp's WebPGetFeatures reports),
// a simple file's VP8 key frame or VP8L header holds the image size.
std::optional<DeclaredImageSize> webp_size(const Bytes& b) {
  if (!matches(b, 0, "RIFF", 4) || !matches(b, 8, "WEBP", 4)) return std::nullopt;
  constexpr size_t d = 20;  // the first chunk's payload
  if (matches(b, 12, "VP8 ", 4) && has(b, d, 10) && b[d + 3] == 0x9D && b[d + 4] == 0x01 && b[d + 5] == 0x2A)
    return DeclaredImageSize{"WebP", read_uint(b, d + 6, 2, true) & 0x3FFF, read_uint(b, d + 8, 2, true) & 0x3FFF};
  if (matches(b, 12, "VP8L", 4) && has(b, d, 5) && b[d] == 0x2F) {
    const uint64_t bits = read_uint(b, d + 1, 4, true);  // 14 bits width - 1, 14 bits height - 1
    return DeclaredImageSize{"WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
  }
  if (matches(b, 12, "VP8X", 4) && has(b, d, 10))  // flags, 3 reserved bytes, 24-bit width - 1 and height - 1
    return DeclaredImageSize{"WebP", read_uint(b, d + 4, 3, true) + 1, read_uint(b, d + 7, 3, true) + 1};
  return std::nullopt;
}

// BITMAPCOREHEADER (12 bytes: 16-bit sizes) or a later info header (32-bit signed; negative height = top-down).
std::optional<DeclaredImageSize> bmp_size(const Bytes& b) {
  if (!matches(b, 0, "BM", 2) || !has(b, 14, 12)) return std::nullopt;
  const uint64_t header = read_uint(b, 14, 4, true);
  if (header == 12) return DeclaredImageSize{"BMP", read_uint(b, 18, 2, true), read_uint(b, 20, 2, true)};
  const auto width = static_cast<int64_t>(static_cast<int32_t>(read_uint(b, 18, 4, true)));
  const auto height = static_cast<int64_t>(static_cast<int32_t>(read_uint(b, 22, 4, true)));
  if (header < 40 || width <= 0 || height == 0) return std::nullopt;
  return DeclaredImageSize{"BMP", static_cast<uint64_t>(width), static_cast<uint64_t>(height < 0 ? -height : height)};
}

// ImageWidth (256) and ImageLength (257) of the first IFD, classic TIFF or BigTIFF, either byte order.
std::optional<DeclaredImageSize> tiff_size(const Bytes& b) {
  if (!(matches(b, 0, "II", 2) || matches(b, 0, "MM", 2)) || !has(b, 0, 8)) return std::nullopt;
  const bool little = b[0] == 'I';
  const uint64_t version = read_uint(b, 2, 2, little);
  const bool big = version == 43;  // BigTIFF: 8-byte offsets and counts, 20-byte entries
  if ((version != 42 && !big) || (big && (!has(b, 8, 8) || read_uint(b, 4, 2, little) != 8))) return std::nullopt;
  const uint64_t ifd = big ? read_uint(b, 8, 8, little) : read_uint(b, 4, 4, little);
  const size_t count_size = big ? 8 : 2, entry_size = big ? 20 : 12, field_size = big ? 8 : 4;
  if (ifd > b.size() || !has(b, ifd, count_size)) return std::nullopt;
  const uint64_t count = read_uint(b, ifd, count_size, little);
  uint64_t width = 0, height = 0;
  for (uint64_t k = 0; k < count && k < 4096; ++k) {
    const size_t entry = ifd + count_size + k * entry_size;
    if (!has(b, entry, entry_size)) return std::nullopt;
    const uint64_t tag = read_uint(b, entry, 2, little), type = read_uint(b, entry + 2, 2, little);
    if (tag != 256 && tag != 257) continue;
    const size_t value = entry + 4 + field_size;  // after tag, type and the value count
    uint64_t v = 0;
    if (type == 3) v = read_uint(b, value, 2, little);                 // SHORT
    else if (type == 4) v = read_uint(b, value, 4, little);            // LONG
    else if (type == 16 && big) v = read_uint(b, value, 8, little);    // LONG8
    else return std::nullopt;
    (tag == 256 ? width : height) = v;
  }
  if (width == 0 || height == 0) return std::nullopt;
  return DeclaredImageSize{"TIFF", width, height};
}

// Netpbm P1..P6 and PFM (Pf, PF): ASCII width and height after the magic, with whitespace and '#' comments.
std::optional<DeclaredImageSize> pnm_size(const Bytes& b) {
  const std::string_view magic = "123456fF", space = " \t\n\v\f\r";
  if (!has(b, 0, 3) || b[0] != 'P' || magic.find(static_cast<char>(b[1])) == std::string_view::npos)
    return std::nullopt;
  size_t i = 2;
  uint64_t numbers[2] = {0, 0};
  for (uint64_t& v : numbers) {
    while (i < b.size() && (space.find(static_cast<char>(b[i])) != std::string_view::npos || b[i] == '#')) {
      if (b[i] != '#') {
        ++i;
        continue;
      }
      while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;  // a comment runs to the end of its line
    }
    const size_t start = i;
    while (i < b.size() && b[i] >= '0' && b[i] <= '9' && i - start < 12) v = v * 10 + (b[i++] - '0');
    if (i == start || (i < b.size() && b[i] >= '0' && b[i] <= '9')) return std::nullopt;
  }
  return DeclaredImageSize{b[1] == 'f' || b[1] == 'F' ? "PFM" : "PNM", numbers[0], numbers[1]};
}

// width × height > limit, without overflowing 64 bits.
bool above_limit(uint64_t width, uint64_t height, int64_t limit) {
  return width != 0 && height > static_cast<uint64_t>(limit) / width;
}

std::string pixel_count(uint64_t width, uint64_t height) {
  if (width != 0 && height > std::numeric_limits<uint64_t>::max() / width) return "over 2^64";
  return std::to_string(width * height);
}

}  // namespace

std::string image_pixels_problem(const std::filesystem::path& path, const std::string& what, uint64_t width,
                                 uint64_t height) {
  const int64_t limit = max_image_pixels();
  if (!above_limit(width, height, limit)) return "";
  return path.string() + ": " + what + " " + std::to_string(width) + "x" + std::to_string(height) +
         " pixels (width x height, " + pixel_count(width, height) + " in all), above the limit of " +
         std::to_string(limit) + " (decompression-bomb guard); if the image is genuine, raise the limit with the "
         "environment variable OSOR_MAX_IMAGE_PIXELS=<pixels>";
}

int64_t max_image_pixels() {
  const int64_t set = g_max_pixels_override.load();
  if (set > 0) return set;
  const char* env = std::getenv("OSOR_MAX_IMAGE_PIXELS");
  if (env == nullptr || *env == '\0') return kDefaultMaxImagePixels;
  const char* end = env + std::strlen(env);
  int64_t value = 0;
  const auto parsed = std::from_chars(env, end, value);
  if (parsed.ec != std::errc() || parsed.ptr != end || value <= 0)
    throw ModelError(std::string("environment variable OSOR_MAX_IMAGE_PIXELS='") + env +
                     "' is not a positive integer (the most pixels, width x height, an image may declare; "
                     "default " + std::to_string(kDefaultMaxImagePixels) + ")");
  return value;
}

void set_max_image_pixels(int64_t pixels) {
  if (pixels < 0)
    throw ModelError("set_max_image_pixels(" + std::to_string(pixels) +
                     "): the limit must be a positive pixel count, or 0 for $OSOR_MAX_IMAGE_PIXELS / the default");
  g_max_pixels_override.store(pixels);
}

std::optional<DeclaredImageSize> declared_image_size(const std::vector<unsigned char>& bytes) {
  // The signatures exclude each other, so the order only saves time for the common formats.
  using Parser = std::optional<DeclaredImageSize> (*)(const Bytes&);
  static constexpr Parser kParsers[] = {png_size, jpeg_size, webp_size, bmp_size, tiff_size, pnm_size};
  for (const Parser parse : kParsers)
    if (std::optional<DeclaredImageSize> size = parse(bytes)) return size;
  return std::nullopt;
}

void check_declared_image_pixels(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  const std::optional<DeclaredImageSize> size = declared_image_size(bytes);
  if (!size) return;  // not parsed here: OpenCV's own limit while decoding, ours after (decode)
  const std::string problem = image_pixels_problem(path, size->format + " header declares", size->width, size->height);
  if (!problem.empty()) throw ModelError(problem);
}


}  // namespace osor::model
