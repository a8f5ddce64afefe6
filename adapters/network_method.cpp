#include "adapters/network_method.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <vector>

#include "adapters/error.h"
#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "model/stage_timer.h"

namespace osor::adapters {

NetworkRemover::NetworkRemover(const MethodSpec& spec, const RemoverContext& context,
                               const std::vector<std::string>& option_keys)
    : spec_(spec), context_(context) {
  for (const auto& option : spec.options) {
    if (std::find(option_keys.begin(), option_keys.end(), option.first) != option_keys.end()) continue;
    std::string known;
    for (const std::string& key : option_keys) known += (known.empty() ? "" : ", ") + key;
    refuse("unknown option '" + option.first + "' (" + known + ")");
  }
}

void NetworkRemover::synchronize() { model::synchronize_device(device_); }

void NetworkRemover::refuse(const std::string& problem) const {
  throw AdapterError("method " + spec_.name + ": " + problem);
}

void NetworkRemover::set_up(const std::function<void()>& steps) const {
  try {
    steps();
  } catch (const AdapterError&) {
    throw;
  } catch (const Error& e) {
    refuse(e.what());
  }
}

std::map<std::string, at::Tensor> NetworkRemover::read_noise(const std::string& file,
                                                             const std::vector<std::string>& required,
                                                             const std::vector<std::string>& optional) const {
  const auto draws = model::SafetensorsFile::open(file);
  for (const std::string& name : required)
    if (!draws.contains(name)) refuse("noise file " + file + " has no tensor '" + name + "'");
  std::map<std::string, at::Tensor> tensors;
  for (const std::vector<std::string>* names : {&required, &optional})
    for (const std::string& name : *names)
      if (draws.contains(name)) tensors[name] = draws.tensor(name).clone();
  return tensors;
}

RemovalOutput NetworkRemover::timed_removal(const RemovalInput& input, const std::function<void()>& preprocess,
                                            const std::function<void(RemovalOutput&)>& run,
                                            const std::function<void(RemovalOutput&)>& postprocess) const {
  RemovalOutput out;
  try {
    // Pre- and postprocessing run on the host: a steady clock (StageTimer on the CPU), whatever the model's device.
    model::StageTimer host(at::kCPU);
    host.begin("preprocess");
    preprocess();
    host.end();
    run(out);
    host.begin("postprocess");
    postprocess(out);
    host.end();
    const model::StageTimes host_times = host.finish();
    out.add_stages(host_times.ms, host_times.calls);
  } catch (const AdapterError&) {
    throw;
  } catch (const std::exception& e) {
    throw AdapterError("method " + spec_.name + ", sample '" + input.id + "': " + e.what());
  }
  return out;
}

RemovalOutput NetworkRemover::square_resized_removal(
    const RemovalInput& input, int64_t size,
    const std::function<void(const at::Tensor&, const at::Tensor&, RemovalOutput&)>& run) const {
  auto resize = [](const at::Tensor& x01, int64_t out_h, int64_t out_w) {
    return pil_bicubic_resize(to_u8(x01), out_h, out_w);
  };
  at::Tensor image, mask;  // size × size
  return timed_removal(
      input,
      [&] {
        image = resize(input.image, size, size);
        mask = resize(input.mask, size, size);
      },
      [&](RemovalOutput& out) { run(image, mask, out); },
      [&](RemovalOutput& out) { out.image = resize(out.image, input.image.size(2), input.image.size(3)); });
}

at::Tensor pil_bicubic_resize(const at::Tensor& image_u8, int64_t height, int64_t width) {
  return metrics::pil_resize_u8(image_u8, height, width, metrics::PilFilter::Bicubic).to(at::kFloat) / 255.0;
}

at::Tensor pil_nearest_resize(const at::Tensor& image, int64_t height, int64_t width) {
  auto index = [](int64_t in, int64_t out) {
    std::vector<int64_t> idx(out);
    for (int64_t i = 0; i < out; ++i)
      idx[i] = std::min(in - 1, static_cast<int64_t>(std::floor((i + 0.5) * static_cast<double>(in) / out)));
    return at::tensor(idx);
  };
  return image.index_select(2, index(image.size(2), height)).index_select(3, index(image.size(3), width));
}

void set_osor_outputs(RemovalOutput& out, const at::Tensor& image, const at::Tensor& alpha,
                      const at::Tensor& alpha_image, bool alpha_at_processing, int64_t height, int64_t width) {
  out.image = pil_bicubic_resize((image * 255.0).to(at::kByte), height, width);
  const at::Tensor full = alpha_at_processing
                              ? alpha_image
                              : at::upsample_bilinear2d(alpha, {height, width}, /*align_corners=*/false);
  out.alpha = at::floor(full * 255.0) / 255.0;
}

}  // namespace osor::adapters
