// Image and mask reading: formats by content, channel conversion as PIL's convert("RGB"), masks.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>

#include "harness/error.h"
#include "harness/file_pairs.h"
#include "harness/image_io.h"
#include "tests/test_paths.h"

using namespace osor;
namespace fs = std::filesystem;

namespace {

// Writes an image with OpenCV under an arbitrary name: the extension given to the encoder can differ
// from the file name, to check that decoding goes by content.
void write_encoded(const fs::path& path, const cv::Mat& mat, const std::string& encoder_ext) {
  std::vector<unsigned char> bytes;
  REQUIRE(cv::imencode(encoder_ext, mat, bytes));
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

float pixel(const at::Tensor& rgb, int c, int y, int x) { return rgb[0][c][y][x].item<float>(); }

std::vector<unsigned char> encode_image(const cv::Mat& mat, const std::string& ext,
                                        const std::vector<int>& params = {}) {
  std::vector<unsigned char> bytes;
  REQUIRE(cv::imencode(ext, mat, bytes, params));
  return bytes;
}

void write_bytes(const fs::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void put_be(std::vector<unsigned char>& b, size_t at, uint64_t value, int width) {
  for (int k = 0; k < width; ++k) b[at + k] = static_cast<unsigned char>(value >> (8 * (width - 1 - k)));
}

uint32_t get_be32(const std::vector<unsigned char>& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

// CRC-32 as PNG chunks use it (ISO 3309, reflected polynomial 0xEDB88320), bit by bit.
uint32_t png_crc32(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

// An 8x8 PNG written by OpenCV whose IHDR is patched to declare width x height, with a valid chunk CRC: a file a
// decoder would start on (and allocate width x height pixels for) before finding its data too short.
std::vector<unsigned char> png_declaring(uint32_t width, uint32_t height) {
  std::vector<unsigned char> b = encode_image(cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)), ".png");
  REQUIRE(b.size() > 33);
  REQUIRE(std::memcmp(b.data() + 12, "IHDR", 4) == 0);
  REQUIRE(png_crc32(b.data() + 12, 17) == get_be32(b, 29));  // the CRC helper agrees with libpng's
  put_be(b, 16, width, 4);
  put_be(b, 20, height, 4);
  put_be(b, 29, png_crc32(b.data() + 12, 17), 4);
  return b;
}

// Puts the pixel limit back to the environment / default when a test ends, however it ends.
struct PixelLimitReset {
  PixelLimitReset() { harness::set_max_image_pixels(0); }
  ~PixelLimitReset() { harness::set_max_image_pixels(0); }
};

// Sets (or unsets, for nullopt) an environment variable for one scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("images are decoded by content, in RGB order, as float32 u8/255") {
  const fs::path dir = test::scratch_dir("image_io_content");
  cv::Mat bgr(4, 5, CV_8UC3, cv::Scalar(10, 20, 30));  // B=10 G=20 R=30
  write_encoded(dir / "png_named.jpg", bgr, ".png");
  const auto img = harness::read_image(dir / "png_named.jpg");
  CHECK(img.bit_depth == 8);
  CHECK(img.rgb.sizes() == at::IntArrayRef({1, 3, 4, 5}));
  CHECK((img.rgb.scalar_type() == at::kFloat));
  CHECK(pixel(img.rgb, 0, 0, 0) == 30.0f / 255.0f);
  CHECK(pixel(img.rgb, 2, 3, 4) == 10.0f / 255.0f);
  write_encoded(dir / "webp_named.png", bgr, ".webp");  // lossless at quality > 100
  CHECK(harness::read_image(dir / "webp_named.png").rgb.size(3) == 5);
  write_encoded(dir / "jpeg_without_extension", bgr, ".jpg");
  CHECK(harness::read_image(dir / "jpeg_without_extension").rgb.size(2) == 4);
}

TEST_CASE("gray, RGBA and 16-bit inputs convert as PIL convert(\"RGB\") does (alpha dropped)") {
  const fs::path dir = test::scratch_dir("image_io_channels");
  cv::Mat gray(3, 3, CV_8UC1, cv::Scalar(77));
  write_encoded(dir / "gray.png", gray, ".png");
  const auto g = harness::read_image(dir / "gray.png").rgb;
  for (int c = 0; c < 3; ++c) CHECK(pixel(g, c, 1, 1) == 77.0f / 255.0f);

  cv::Mat bgra(3, 3, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // fully transparent: alpha is ignored
  write_encoded(dir / "rgba.png", bgra, ".png");
  const auto a = harness::read_image(dir / "rgba.png").rgb;
  CHECK(a.size(1) == 3);
  CHECK(pixel(a, 0, 0, 0) == 30.0f / 255.0f);
  CHECK(pixel(a, 2, 0, 0) == 10.0f / 255.0f);

  cv::Mat wide(2, 2, CV_16UC3, cv::Scalar(0, 32768, 65535));
  write_encoded(dir / "sixteen.png", wide, ".png");
  const auto w = harness::read_image(dir / "sixteen.png");
  CHECK(w.bit_depth == 16);
  CHECK(pixel(w.rgb, 0, 0, 0) == 1.0f);
  CHECK(pixel(w.rgb, 1, 0, 0) == doctest::Approx(32768.0 / 65535.0));
  CHECK(pixel(w.rgb, 2, 0, 0) == 0.0f);
}

TEST_CASE("masks: threshold 127, both polarities, nearest-neighbour resize to the image") {
  const fs::path dir = test::scratch_dir("image_io_masks");
  cv::Mat m(2, 4, CV_8UC1);
  const uint8_t values[8] = {0, 127, 128, 255, 255, 128, 127, 0};
  std::memcpy(m.data, values, 8);
  write_encoded(dir / "m.png", m, ".png");
  const at::Tensor white = harness::read_mask(dir / "m.png");
  CHECK(white.sizes() == at::IntArrayRef({1, 1, 2, 4}));
  CHECK(white.flatten().equal(at::tensor({0.f, 0.f, 1.f, 1.f, 1.f, 1.f, 0.f, 0.f})));
  const at::Tensor black = harness::read_mask(dir / "m.png", harness::MaskPolarity::BlackIsObject);
  CHECK(black.flatten().equal(at::tensor({1.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 1.f})));
  const at::Tensor up = harness::read_mask(dir / "m.png", harness::MaskPolarity::WhiteIsObject, 4, 8);
  CHECK(up.sizes() == at::IntArrayRef({1, 1, 4, 8}));
  CHECK(up[0][0][0].equal(at::tensor({0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 1.f})));
  CHECK(up[0][0][3].equal(at::tensor({1.f, 1.f, 1.f, 1.f, 0.f, 0.f, 0.f, 0.f})));
}

TEST_CASE("unreadable images fail with the file name and the problem") {
  const fs::path dir = test::scratch_dir("image_io_errors");
  CHECK_THROWS_WITH_AS(harness::read_image(dir / "missing.png"), doctest::Contains("missing.png: file not found"),
                       HarnessError);
  std::ofstream(dir / "empty.png").close();
  CHECK_THROWS_WITH_AS(harness::read_image(dir / "empty.png"), doctest::Contains("empty.png: empty file"), HarnessError);
  std::ofstream(dir / "text.png") << "this is not an image";
  CHECK_THROWS_WITH_AS(harness::read_image(dir / "text.png"), doctest::Contains("text.png: cannot decode image"),
                       HarnessError);
  CHECK_THROWS_WITH_AS(harness::read_mask(dir / "text.png"), doctest::Contains("text.png: cannot decode image"),
                       HarnessError);
}

TEST_CASE("write_image round-trips 8-bit values and writes atomically") {
  const fs::path dir = test::scratch_dir("image_io_write");
  const at::Tensor img = at::randint(0, 256, {1, 3, 7, 9}, at::kByte).to(at::kFloat).div(255);
  harness::write_image(dir / "out.png", img);
  CHECK(harness::read_image(dir / "out.png").rgb.equal(img));
  for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().filename() == "out.png");
}

TEST_CASE("folders pair by stem and report what is missing") {
  const fs::path dir = test::scratch_dir("file_pairs");
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "ref");
  const cv::Mat px(2, 2, CV_8UC3, cv::Scalar(1, 2, 3));
  write_encoded(dir / "pred" / "a.png", px, ".png");
  write_encoded(dir / "pred" / "b.jpg", px, ".png");
  write_encoded(dir / "ref" / "a.png", px, ".png");
  write_encoded(dir / "ref" / "b.png", px, ".png");
  const auto pairs = harness::pair_files(dir / "pred", dir / "ref", std::nullopt);
  REQUIRE(pairs.size() == 2);
  CHECK(pairs[1].stem == "b");
  CHECK(pairs[1].pred.filename() == "b.jpg");
  write_encoded(dir / "ref" / "c.png", px, ".png");
  CHECK_THROWS_WITH_AS(harness::pair_files(dir / "pred", dir / "ref", std::nullopt),
                       doctest::Contains("no prediction for reference image(s) c"), HarnessError);
}

TEST_CASE("decompression bombs: a small PNG declaring 20000x20000 is refused before decoding") {
  const fs::path dir = test::scratch_dir("image_io_bomb_png");
  const PixelLimitReset reset;
  const ScopedEnv env("OSOR_MAX_IMAGE_PIXELS", std::nullopt);
  REQUIRE(harness::max_image_pixels() == harness::kDefaultMaxImagePixels);
  CHECK(harness::kDefaultMaxImagePixels == 178956970);  // Pillow's DecompressionBombError threshold
  const fs::path path = dir / "bomb.png";
  write_bytes(path, png_declaring(20000, 20000));
  const std::string expected = path.string() + ": PNG header declares 20000x20000 pixels (width x height, "
                               "400000000 in all), above the limit of 178956970 (decompression-bomb guard); if the "
                               "image is genuine, raise the limit with the environment variable "
                               "OSOR_MAX_IMAGE_PIXELS=<pixels>";
  CHECK_THROWS_WITH_AS(harness::read_image(path), expected.c_str(), HarnessError);
  CHECK_THROWS_WITH_AS(harness::read_mask(path), expected.c_str(), HarnessError);
  // One row more than the limit allows is refused; 13377 x 13377 = 178944129 is within it.
  CHECK_THROWS_WITH_AS(harness::check_image_pixels(path, png_declaring(13377, 13378)),
                       doctest::Contains("13377x13378 pixels (width x height, 178957506 in all)"), HarnessError);
  CHECK_NOTHROW(harness::check_image_pixels(path, png_declaring(13377, 13377)));
}

TEST_CASE("decompression bombs: JPEG SOF and WebP VP8L headers declaring a huge size are refused") {
  const fs::path dir = test::scratch_dir("image_io_bomb_jpeg_webp");
  const PixelLimitReset reset;
  const ScopedEnv env("OSOR_MAX_IMAGE_PIXELS", std::nullopt);
  // A colour baseline JPEG: SOF0 (FF C0), length 17, precision 8, then height and width.
  std::vector<unsigned char> jpeg = encode_image(cv::Mat(8, 8, CV_8UC3, cv::Scalar(9, 99, 199)), ".jpg");
  const unsigned char sof0[] = {0xFF, 0xC0, 0x00, 0x11, 0x08};
  const auto found = std::search(jpeg.begin(), jpeg.end(), std::begin(sof0), std::end(sof0));
  REQUIRE(found != jpeg.end());
  const size_t sof = static_cast<size_t>(found - jpeg.begin());
  put_be(jpeg, sof + 5, 20000, 2);  // height
  put_be(jpeg, sof + 7, 30000, 2);  // width
  write_bytes(dir / "bomb.jpg", jpeg);
  CHECK_THROWS_WITH_AS(harness::read_image(dir / "bomb.jpg"),
                       doctest::Contains("bomb.jpg: JPEG header declares 30000x20000 pixels (width x height, "
                                         "600000000 in all), above the limit of 178956970"),
                       HarnessError);
  // A lossless WebP (VP8L: 14-bit width - 1 and height - 1) patched to 16384x16384.
  std::vector<unsigned char> webp = encode_image(cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)), ".webp");
  REQUIRE(std::memcmp(webp.data() + 12, "VP8L", 4) == 0);
  const uint32_t bits = uint32_t{webp[21]} | uint32_t{webp[22]} << 8 | uint32_t{webp[23]} << 16 |
                        uint32_t{webp[24]} << 24;
  const uint32_t patched = (bits & 0xF0000000u) | 16383u | 16383u << 14;
  for (int k = 0; k < 4; ++k) webp[21 + k] = static_cast<unsigned char>(patched >> (8 * k));
  write_bytes(dir / "bomb.webp", webp);
  CHECK_THROWS_WITH_AS(harness::read_mask(dir / "bomb.webp"),
                       doctest::Contains("bomb.webp: WebP header declares 16384x16384 pixels"), HarnessError);
}

TEST_CASE("the image pixel limit: set_max_image_pixels and OSOR_MAX_IMAGE_PIXELS") {
  const fs::path dir = test::scratch_dir("image_io_pixel_limit");
  const PixelLimitReset reset;
  const ScopedEnv env("OSOR_MAX_IMAGE_PIXELS", std::nullopt);
  write_encoded(dir / "img.png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(5, 6, 7)), ".png");
  write_encoded(dir / "mask.png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(255)), ".png");
  harness::set_max_image_pixels(50);
  CHECK(harness::max_image_pixels() == 50);
  CHECK_THROWS_WITH_AS(harness::read_image(dir / "img.png"),
                       doctest::Contains("img.png: PNG header declares 8x8 pixels (width x height, 64 in all), above "
                                         "the limit of 50"),
                       HarnessError);
  CHECK_THROWS_WITH_AS(harness::read_mask(dir / "mask.png"), doctest::Contains("above the limit of 50"), HarnessError);
  harness::set_max_image_pixels(64);  // the limit itself is allowed, as Pillow's
  CHECK(harness::read_image(dir / "img.png").rgb.size(3) == 8);
  harness::set_max_image_pixels(harness::kDefaultMaxImagePixels);
  CHECK(harness::read_mask(dir / "mask.png").size(2) == 8);
  CHECK_THROWS_WITH_AS(harness::set_max_image_pixels(-1), doctest::Contains("set_max_image_pixels(-1)"),
                       osor::ModelError);

  // The environment variable, below the setter; 0 hands the limit back to it.
  harness::set_max_image_pixels(0);
  {
    const ScopedEnv small("OSOR_MAX_IMAGE_PIXELS", "63");
    CHECK(harness::max_image_pixels() == 63);
    CHECK_THROWS_WITH_AS(harness::read_image(dir / "img.png"), doctest::Contains("above the limit of 63"),
                         HarnessError);
    harness::set_max_image_pixels(1000);
    CHECK(harness::read_image(dir / "img.png").rgb.size(2) == 8);
    harness::set_max_image_pixels(0);
  }
  for (const char* bad : {"abc", "12x", "0", "-5", " 64", "1e9", "99999999999999999999999"}) {
    CAPTURE(bad);
    const ScopedEnv malformed("OSOR_MAX_IMAGE_PIXELS", bad);
    const std::string expected = "environment variable OSOR_MAX_IMAGE_PIXELS='" + std::string(bad) +
                                 "' is not a positive integer";
    CHECK_THROWS_WITH_AS(harness::read_image(dir / "img.png"), doctest::Contains(expected.c_str()), HarnessError);
  }
  {
    const ScopedEnv empty("OSOR_MAX_IMAGE_PIXELS", "");  // set but empty: as unset
    CHECK(harness::max_image_pixels() == harness::kDefaultMaxImagePixels);
  }
  CHECK(harness::max_image_pixels() == harness::kDefaultMaxImagePixels);
}

TEST_CASE("declared image sizes match what OpenCV encodes, for every header parsed") {
  const cv::Mat colour(23, 37, CV_8UC3, cv::Scalar(40, 80, 120));
  const cv::Mat gray(23, 37, CV_8UC1, cv::Scalar(200));
  const cv::Mat rgba(23, 37, CV_8UC4, cv::Scalar(1, 2, 3, 128));
  struct Case {
    std::string format, ext;
    cv::Mat mat;
    std::vector<int> params;
  };
  const std::vector<Case> cases = {
      {"PNG", ".png", colour, {}},
      {"PNG", ".png", cv::Mat(23, 37, CV_16UC1, cv::Scalar(7)), {}},
      {"JPEG", ".jpg", colour, {}},
      {"JPEG", ".jpg", gray, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}},
      {"WebP", ".webp", colour, {}},                               // lossless: VP8L
      {"WebP", ".webp", colour, {cv::IMWRITE_WEBP_QUALITY, 80}},  // lossy: VP8
      {"WebP", ".webp", rgba, {cv::IMWRITE_WEBP_QUALITY, 80}},    // lossy with alpha: VP8X
      {"BMP", ".bmp", colour, {}},
      {"TIFF", ".tiff", colour, {}},
      {"PNM", ".ppm", colour, {}},
      {"PNM", ".pgm", gray, {cv::IMWRITE_PXM_BINARY, 0}},  // ASCII
  };
  for (const Case& c : cases) {
    CAPTURE(c.ext);
    CAPTURE(c.params.size());
    if (!cv::haveImageWriter("x" + c.ext)) {
      MESSAGE("SKIPPED: OpenCV here cannot write " << c.ext);
      continue;
    }
    const auto size = harness::declared_image_size(encode_image(c.mat, c.ext, c.params));
    REQUIRE(size.has_value());
    CHECK(size->format == c.format);
    CHECK(size->width == 37u);
    CHECK(size->height == 23u);
  }
  // Hand-made headers for what OpenCV does not write: big-endian TIFF (SHORT width, LONG height), OS/2 BMP core
  // header, a top-down BMP, and PNM comments.
  std::vector<unsigned char> tiff = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2,  // header, IFD at 8 with 2 entries
                                     1, 0, 0, 3, 0, 0, 0, 1, 0x01, 0x2C, 0, 0,          // 256 SHORT 300
                                     1, 1, 0, 4, 0, 0, 0, 1, 0, 0x01, 0x11, 0x70,       // 257 LONG 70000
                                     0, 0, 0, 0};
  const auto t = harness::declared_image_size(tiff);
  REQUIRE(t.has_value());
  CHECK(t->format == "TIFF");
  CHECK(t->width == 300u);
  CHECK(t->height == 70000u);
  std::vector<unsigned char> core(26, 0);
  core[0] = 'B', core[1] = 'M', core[14] = 12, core[18] = 0x10, core[19] = 0x27, core[20] = 5;  // 10000 x 5
  CHECK(harness::declared_image_size(core)->width == 10000u);
  CHECK(harness::declared_image_size(core)->height == 5u);
  std::vector<unsigned char> top_down = encode_image(colour, ".bmp");
  for (int k = 0; k < 4; ++k) top_down[22 + k] = static_cast<unsigned char>(static_cast<uint32_t>(-23) >> (8 * k));
  CHECK(harness::declared_image_size(top_down)->height == 23u);
  const std::string pnm = "P6\n# made by hand\n 640 # width\n480\n255\n";
  const auto p = harness::declared_image_size(std::vector<unsigned char>(pnm.begin(), pnm.end()));
  REQUIRE(p.has_value());
  CHECK(p->width == 640u);
  CHECK(p->height == 480u);
  // Unknown or damaged headers are left to the decoder.
  CHECK_FALSE(harness::declared_image_size(std::vector<unsigned char>{'G', 'I', 'F', '8', '9', 'a'}).has_value());
  const std::vector<unsigned char> png = encode_image(colour, ".png");
  CHECK_FALSE(harness::declared_image_size(std::vector<unsigned char>(png.begin(), png.begin() + 20)).has_value());
}
