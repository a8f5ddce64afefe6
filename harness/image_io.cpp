#include "harness/image_io.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string_view>

#include "harness/atomic_file.h"
#include "harness/error.h"
#include "model/io/image_header.h"
#include "model/log.h"

namespace osor::harness {
namespace {

using Bytes = std::vector<unsigned char>;

std::string size_text(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

cv::Mat decode(const std::filesystem::path& path) {
  const std::vector<unsigned char> bytes = read_file_bytes(path);
  if (bytes.empty()) throw HarnessError(path.string() + ": empty file (0 bytes)");
  check_image_pixels(path, bytes);
  cv::Mat mat;
  try {
    mat = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    const bool opencv_limit = std::strstr(e.what(), "CV_IO_MAX_IMAGE") != nullptr;
    throw HarnessError(path.string() + ": cannot decode image: " + e.what() +
                       (opencv_limit ? " (OpenCV's own size limit: raise it with OPENCV_IO_MAX_IMAGE_PIXELS)" : ""));
  }
  if (mat.empty() || mat.rows == 0 || mat.cols == 0)
    throw HarnessError(path.string() + ": cannot decode image (not a PNG/JPEG/WebP file, or corrupt)");
  // A format whose header is not parsed here is checked once decoded.
  const std::string too_large = model::image_pixels_problem(path, "image decodes to", static_cast<uint64_t>(mat.cols),
                                                            static_cast<uint64_t>(mat.rows));
  if (!too_large.empty()) throw HarnessError(too_large);
  if (mat.depth() != CV_8U && mat.depth() != CV_16U)
    throw HarnessError(path.string() + ": unsupported pixel depth (only 8-bit and 16-bit images are read)");
  return mat;
}

// write_image's rounding of [0,1] values to 8 bits.
at::Tensor quantise_8bit(const at::Tensor& image) { return image.to(at::kDouble).clamp(0, 1).mul(255).round().to(at::kByte); }

// read_image's 8-bit values → [0,1] floats.
at::Tensor from_8bit(const at::Tensor& bytes) { return bytes.to(at::kFloat).div_(255.0); }

}  // namespace

void check_image_pixels(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  try {
    model::check_declared_image_pixels(path, bytes);
  } catch (const ModelError& e) {
    throw HarnessError(e.what());
  }
}

LoadedImage read_image(const std::filesystem::path& path) {
  const cv::Mat mat = decode(path);
  const int channels = mat.channels();
  if (channels != 1 && channels != 3 && channels != 4)
    throw HarnessError(path.string() + ": unsupported channel count " + std::to_string(channels));
  LoadedImage out;
  out.bit_depth = mat.depth() == CV_16U ? 16 : 8;
  const int64_t h = mat.rows, w = mat.cols;
  // The planes in RGB order, straight into a [3,H,W] buffer (OpenCV holds BGR(A); gray is replicated, alpha
  // dropped, as PIL's convert("RGB")), then converted to float in one pass.
  const at::Tensor planes =
      at::empty({1, 3, h, w}, at::TensorOptions().dtype(out.bit_depth == 8 ? at::kByte : at::kShort));
  const int type = out.bit_depth == 8 ? CV_8UC1 : CV_16UC1;
  const size_t plane_bytes = static_cast<size_t>(h * w) * planes.element_size();
  auto* base = static_cast<unsigned char*>(planes.data_ptr());
  cv::Mat rgb[3];
  for (int c = 0; c < 3; ++c) rgb[c] = cv::Mat(static_cast<int>(h), static_cast<int>(w), type, base + c * plane_bytes);
  const int gray_to_rgb[] = {0, 0, 0, 1, 0, 2}, bgr_to_rgb[] = {2, 0, 1, 1, 0, 2};  // (source, destination) pairs
  cv::mixChannels(&mat, 1, rgb, 3, channels == 1 ? gray_to_rgb : bgr_to_rgb, 3);
  if (out.bit_depth == 8) {
    out.rgb = from_8bit(planes);
  } else {  // uint16 as int16 bits: widen through int32 (torch 1.13 has no uint16)
    out.rgb = planes.to(at::kInt).bitwise_and_(0xFFFF).to(at::kFloat).div_(65535.0);
  }
  return out;
}

MaskPolarity parse_mask_polarity(const std::string& name) {
  if (name == "white" || name == "white-is-object") return MaskPolarity::WhiteIsObject;
  if (name == "black" || name == "black-is-object") return MaskPolarity::BlackIsObject;
  throw HarnessError("unknown mask polarity '" + name + "' (expected white or black)");
}

at::Tensor read_mask(const std::filesystem::path& path, MaskPolarity polarity, int64_t height, int64_t width) {
  cv::Mat mat = decode(path);
  cv::Mat gray;
  switch (mat.channels()) {
    case 1: gray = mat; break;
    case 3: cv::cvtColor(mat, gray, cv::COLOR_BGR2GRAY); break;
    case 4: cv::cvtColor(mat, gray, cv::COLOR_BGRA2GRAY); break;
    default:
      throw HarnessError(path.string() + ": unsupported channel count " + std::to_string(mat.channels()));
  }
  if (gray.depth() == CV_16U) gray.convertTo(gray, CV_8U, 1.0 / 257.0);
  if (height > 0 && width > 0 && (gray.rows != height || gray.cols != width)) {
    log::warn(path.string() + ": mask is " + size_text(gray.rows, gray.cols) + ", image is " +
              size_text(height, width) + "; resized with nearest neighbour");
    cv::Mat resized;
    cv::resize(gray, resized, cv::Size(static_cast<int>(width), static_cast<int>(height)), 0, 0,
               cv::INTER_NEAREST_EXACT);
    gray = resized;
  }
  cv::Mat binary;
  cv::threshold(gray, binary, 127, 1, polarity == MaskPolarity::WhiteIsObject ? cv::THRESH_BINARY : cv::THRESH_BINARY_INV);
  const at::Tensor mask = at::from_blob(binary.data, {binary.rows, binary.cols}, at::TensorOptions().dtype(at::kByte));
  return mask.to(at::kFloat).view({1, 1, binary.rows, binary.cols}).contiguous();
}

void write_image(const std::filesystem::path& path, const at::Tensor& image) {
  at::Tensor t = image.detach().cpu();
  if (t.dim() == 4) {
    if (t.size(0) != 1) throw HarnessError(path.string() + ": write_image takes one image, got a batch");
    t = t[0];
  }
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || (t.size(0) != 1 && t.size(0) != 3))
    throw HarnessError(path.string() + ": write_image takes [3,H,W] or [1,H,W] tensors");
  if (t.scalar_type() != at::kByte) t = quantise_8bit(t);
  t = t.permute({1, 2, 0}).contiguous();
  const int channels = static_cast<int>(t.size(2));
  cv::Mat mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), channels == 3 ? CV_8UC3 : CV_8UC1, t.data_ptr());
  cv::Mat bgr;
  if (channels == 3) cv::cvtColor(mat, bgr, cv::COLOR_RGB2BGR); else bgr = mat;
  std::string ext = path.extension().string();
  if (ext.empty()) ext = ".png";
  std::vector<unsigned char> bytes;
  try {
    if (!cv::imencode(ext, bgr, bytes)) throw HarnessError(path.string() + ": cannot encode as " + ext);
  } catch (const cv::Exception& e) {
    throw HarnessError(path.string() + ": cannot encode as " + ext + ": " + e.what());
  }
  write_file_atomic(path, bytes);
}

at::Tensor as_written_8bit(const at::Tensor& image) {
  const at::Tensor t = image.detach().cpu();
  return from_8bit(t.scalar_type() == at::kByte ? t : quantise_8bit(t)).contiguous();
}

bool is_rgb8_png(const std::filesystem::path& path) {
  static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char head[26] = {0};
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  const size_t got = std::fread(head, 1, sizeof head, file);
  std::fclose(file);
  return got == sizeof head && std::memcmp(head, signature, 8) == 0 && std::memcmp(head + 12, "IHDR", 4) == 0 &&
         head[24] == 8 && head[25] == 2;
}

void write_thumbnail(const std::filesystem::path& path, const at::Tensor& image, int long_side) {
  // Halved (2×2 block means) until the long side fits: cheap, and no aliasing of fine texture.
  at::Tensor small = image.detach().cpu().to(at::kFloat);
  while (std::max(small.size(2), small.size(3)) > long_side && std::min(small.size(2), small.size(3)) >= 2) {
    const int64_t h = small.size(2) / 2 * 2, w = small.size(3) / 2 * 2;
    const auto block = [&](int64_t dy, int64_t dx) { return small.slice(2, dy, h, 2).slice(3, dx, w, 2); };
    small = (block(0, 0) + block(0, 1) + block(1, 0) + block(1, 1)).mul_(0.25);
  }
  const at::Tensor hwc = small[0].mul(255).round_().clamp_(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  const cv::Mat rgb(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3, hwc.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<unsigned char> bytes;
  if (!cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, 85}))
    throw HarnessError(path.string() + ": cannot encode the thumbnail as JPEG");
  write_file_atomic(path, bytes);
}

}  // namespace osor::harness
