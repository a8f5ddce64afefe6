// Image and mask reading: formats by content, channel conversion as PIL's convert("RGB"), masks.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

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
