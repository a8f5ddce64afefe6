#include "adapters/sdxl_inpaint.h"

#include <ATen/ATen.h>

#include <cmath>

#include "adapters/error.h"
#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/unet/unet_2d_condition.h"
#include "model/stage_timer.h"

namespace osor::adapters {
namespace {

}  // namespace

struct SdxlInpaintRemover::Impl {
  MethodSpec spec;
  std::unique_ptr<model::SdxlInpaint> model;
  model::SdxlInpaintOptions options;
  int64_t size = 1024;
  at::Device device = at::kCPU;
};

SdxlInpaintRemover::SdxlInpaintRemover(const MethodSpec& spec, const RemoverContext& context)
    : impl_(std::make_unique<Impl>()) {
  for (const auto& [key, value] : spec.options)
    if (key != "steps" && key != "guidance" && key != "strength" && key != "size" && key != "prompt" &&
        key != "noise" && key != "channels_last")
      throw AdapterError("method sdxl-inpaint: unknown option '" + key +
                         "' (steps, guidance, strength, size, prompt, noise, channels_last)");
  impl_->spec = spec;
  auto& o = impl_->options;
  o.steps = static_cast<int64_t>(option_number(spec, "steps", 20));
  o.guidance = option_number(spec, "guidance", 8.0);
  o.strength = option_number(spec, "strength", 0.99);
  o.seed = context.seed;
  impl_->size = static_cast<int64_t>(option_number(spec, "size", 1024));
  if (o.steps < 1) throw AdapterError("method sdxl-inpaint: steps must be at least 1");
  if (!(o.strength > 0.0 && o.strength <= 1.0)) throw AdapterError("method sdxl-inpaint: strength must be in (0, 1]");
  if (impl_->size < 8 || impl_->size % 8 != 0)
    throw AdapterError("method sdxl-inpaint: size must be a positive multiple of 8 (got " +
                       std::to_string(impl_->size) + ")");
  const std::string noise = option_text(spec, "noise", ""), prompt = option_text(spec, "prompt", "");
  try {
    if (!noise.empty()) {
      const auto file = model::SafetensorsFile::open(noise);
      model::SdxlInpaintNoise draws;
      for (const char* key : {"latents", "masked_image_posterior"})
        if (!file.contains(key))
          throw AdapterError("method sdxl-inpaint: noise file " + noise + " has no tensor '" + key + "'");
      draws.latents = file.tensor("latents").clone();
      draws.masked_image_posterior = file.tensor("masked_image_posterior").clone();
      if (file.contains("image_posterior")) draws.image_posterior = file.tensor("image_posterior").clone();
      else if (o.strength < 1.0)
        throw AdapterError("method sdxl-inpaint: noise file " + noise +
                           " has no tensor 'image_posterior' (needed when strength < 1)");
      o.noise = draws;
    }
    impl_->device = at::Device(context.device);
    const at::ScalarType dtype = model_dtype("sdxl-inpaint", context.dtype);
    if (context.random_weights) {
      if (!prompt.empty()) throw AdapterError("method sdxl-inpaint: prompt=FILE is not used with random weights");
      impl_->model = std::make_unique<model::SdxlInpaint>(
          model::SdxlInpaint::random(context.weights_dir, impl_->device, dtype, context.seed));
    } else {
      impl_->model = std::make_unique<model::SdxlInpaint>(model::SdxlInpaint::load(
          model::SdxlInpaintFiles::locate(context.weights_dir, prompt), impl_->device, dtype));
    }
    if (option_flag(spec, "channels_last", false))
      impl_->model->unet().set_memory_format(at::MemoryFormat::ChannelsLast);
  } catch (const AdapterError&) {
    throw;
  } catch (const Error& e) {
    throw AdapterError(std::string("method sdxl-inpaint: ") + e.what());
  }
}

SdxlInpaintRemover::~SdxlInpaintRemover() = default;

std::string SdxlInpaintRemover::id() const { return impl_->spec.text(); }

void SdxlInpaintRemover::synchronize() { model::synchronize_device(impl_->device); }

RemovalOutput SdxlInpaintRemover::remove(const RemovalInput& input) {
  RemovalOutput out;
  try {
    // Pre- and postprocessing run on the host: a steady clock (StageTimer on the CPU).
    model::StageTimer host(at::kCPU);
    host.begin("preprocess");
    const int64_t h = input.image.size(2), w = input.image.size(3), s = impl_->size;
    using metrics::PilFilter;
    auto resize = [](const at::Tensor& x01, int64_t oh, int64_t ow) {
      return metrics::pil_resize_u8(to_u8(x01), oh, ow, PilFilter::Bicubic).to(at::kFloat) / 255.0;
    };
    const at::Tensor image = resize(input.image, s, s), mask = resize(input.mask, s, s);
    host.end();

    const auto result = impl_->model->run(image, mask, impl_->options);
    out.add_stages(result.stages_ms, result.stage_calls);

    host.begin("postprocess");
    out.image = resize(result.image, h, w);  // to_u8 rounds as the pipeline's numpy_to_pil: (x·255).round()
    host.end();
    const model::StageTimes host_times = host.finish();
    out.add_stages(host_times.ms, host_times.calls);
  } catch (const AdapterError&) {
    throw;
  } catch (const std::exception& e) {
    throw AdapterError("method sdxl-inpaint, sample '" + input.id + "': " + e.what());
  }
  return out;
}

}  // namespace osor::adapters
