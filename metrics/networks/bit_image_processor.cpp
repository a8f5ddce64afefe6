#include "metrics/networks/bit_image_processor.h"

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "metrics/error.h"
#include "metrics/resize.h"
#include "model/error.h"

namespace osor::metrics {

namespace {

// Python's floor division.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

at::Tensor resize_shortest_edge(const at::Tensor& image, const BitProcessorConfig& c) {
  const int64_t h = image.size(1), w = image.size(2);
  // transformers' get_resize_output_image_size(default_to_square=False): int() truncation of a float division.
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  const int64_t new_long = static_cast<int64_t>(static_cast<double>(c.shortest_edge * longer) / static_cast<double>(shorter));
  const int64_t nh = w <= h ? new_long : c.shortest_edge, nw = w <= h ? c.shortest_edge : new_long;
  switch (c.resample) {
    case 0: return pil_resize_nearest_u8(image, nh, nw);
    case 1: return pil_resize_u8(image, nh, nw, PilFilter::Lanczos);
    case 2: return pil_resize_u8(image, nh, nw, PilFilter::Bilinear);
    case 3: return pil_resize_u8(image, nh, nw, PilFilter::Bicubic);
    default: throw MetricError("BitImageProcessor: resample " + std::to_string(c.resample) + " is not supported (0-3)");
  }
}

// transformers' image_transforms.center_crop, zero padding included.
at::Tensor center_crop(const at::Tensor& image, int64_t ch, int64_t cw) {
  const int64_t h = image.size(1), w = image.size(2);
  int64_t top = floor_div(h - ch, 2), left = floor_div(w - cw, 2);
  if (top >= 0 && left >= 0 && top + ch <= h && left + cw <= w)
    return image.slice(1, top, top + ch).slice(2, left, left + cw).contiguous();
  const int64_t nh = std::max(ch, h), nw = std::max(cw, w);
  const int64_t top_pad = (nh - h + 1) / 2, left_pad = (nw - w + 1) / 2;  // ceil of a non-negative half
  at::Tensor padded = at::zeros({image.size(0), nh, nw}, image.options());
  padded.slice(1, top_pad, top_pad + h).slice(2, left_pad, left_pad + w).copy_(image);
  top += top_pad;
  left += left_pad;
  return padded.slice(1, std::max<int64_t>(0, top), std::min(nh, top + ch))
      .slice(2, std::max<int64_t>(0, left), std::min(nw, left + cw))
      .contiguous();
}

}  // namespace

BitProcessorConfig BitProcessorConfig::from_json_text(const std::string& text, const std::string& label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("image processor config " + label + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw ModelError("image processor config " + label + ": not a JSON object");
  BitProcessorConfig c;
  try {
    c.do_resize = j.value("do_resize", c.do_resize);
    if (j.contains("size")) {
      if (!j["size"].contains("shortest_edge"))
        throw ModelError("image processor config " + label + ": only size.shortest_edge is supported");
      c.shortest_edge = j["size"]["shortest_edge"].get<int64_t>();
    }
    c.resample = j.value("resample", c.resample);
    c.do_center_crop = j.value("do_center_crop", c.do_center_crop);
    if (j.contains("crop_size")) {
      c.crop_height = j["crop_size"].at("height").get<int64_t>();
      c.crop_width = j["crop_size"].at("width").get<int64_t>();
    }
    c.do_rescale = j.value("do_rescale", c.do_rescale);
    c.rescale_factor = j.value("rescale_factor", c.rescale_factor);
    c.do_normalize = j.value("do_normalize", c.do_normalize);
    if (j.contains("image_mean")) c.image_mean = j["image_mean"].get<std::array<double, 3>>();
    if (j.contains("image_std")) c.image_std = j["image_std"].get<std::array<double, 3>>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("image processor config " + label + ": a field has the wrong type (" + e.what() + ")");
  }
  if (c.shortest_edge <= 0 || c.crop_height <= 0 || c.crop_width <= 0)
    throw ModelError("image processor config " + label + ": sizes must be positive");
  return c;
}

BitProcessorConfig BitProcessorConfig::from_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ModelError("image processor config " + path.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return from_json_text(text.str(), path.string());
}

BitProcessorSteps bit_image_processor_steps(const at::Tensor& image, const BitProcessorConfig& c) {
  if (image.dim() != 3 || image.size(0) != 3 || image.scalar_type() != at::kByte)
    throw MetricError("BitImageProcessor: expected a uint8 RGB image [3,H,W]");
  BitProcessorSteps s;
  s.resized = c.do_resize ? resize_shortest_edge(image.to(at::kCPU).contiguous(), c) : image.to(at::kCPU);
  s.cropped = c.do_center_crop ? center_crop(s.resized, c.crop_height, c.crop_width) : s.resized;
  at::Tensor x = s.cropped.to(at::kFloat);
  if (c.do_rescale) x = s.cropped.to(at::kDouble).mul(c.rescale_factor).to(at::kFloat);
  if (c.do_normalize) {
    // HF casts mean and std to the image dtype (float32) before (x − mean)/std.
    const at::Tensor mean = at::tensor({c.image_mean[0], c.image_mean[1], c.image_mean[2]}).to(at::kFloat).view({3, 1, 1});
    const at::Tensor std = at::tensor({c.image_std[0], c.image_std[1], c.image_std[2]}).to(at::kFloat).view({3, 1, 1});
    x = (x - mean) / std;
  }
  s.pixel_values = x.unsqueeze(0).contiguous();
  return s;
}

at::Tensor bit_image_processor(const at::Tensor& image, const BitProcessorConfig& config) {
  return bit_image_processor_steps(image, config).pixel_values;
}

}  // namespace osor::metrics
