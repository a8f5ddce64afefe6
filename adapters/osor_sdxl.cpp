#include "adapters/osor_sdxl.h"

#include <ATen/ATen.h>

#include <cmath>

#include "adapters/error.h"
#include "metrics/resize.h"
#include "model/io/safetensors.h"
#include "model/osor/one_step.h"
#include "model/stage_timer.h"

namespace osor::adapters {
namespace {

// Pillow's NEAREST resize: source index floor((i + 0.5) · in / out).
at::Tensor pil_nearest(const at::Tensor& img, int64_t out_h, int64_t out_w) {
  auto index = [](int64_t in, int64_t out) {
    std::vector<int64_t> idx(out);
    for (int64_t i = 0; i < out; ++i)
      idx[i] = std::min(in - 1, static_cast<int64_t>(std::floor((i + 0.5) * static_cast<double>(in) / out)));
    return at::tensor(idx);
  };
  return img.index_select(2, index(img.size(2), out_h)).index_select(3, index(img.size(3), out_w));
}

}  // namespace

struct OsorSdxlRemover::Impl {
  MethodSpec spec;
  std::unique_ptr<model::OsorSdxl> model;
  std::optional<model::OneStepNoise> noise;
  uint64_t seed = 0;
  int64_t short_side = 512, t = 400;
  bool alpha_at_processing = false;
  at::Device device = at::kCPU;
};

OsorSdxlRemover::OsorSdxlRemover(const MethodSpec& spec, const RemoverContext& context)
    : impl_(std::make_unique<Impl>()) {
  for (const auto& [key, value] : spec.options)
    if (key != "short_side" && key != "t" && key != "lora" && key != "alpha" && key != "noise" &&
        key != "channels_last" && key != "cuda_graphs")
      throw AdapterError("method osor-sdxl: unknown option '" + key +
                         "' (short_side, t, lora, alpha, noise, channels_last, cuda_graphs)");
  impl_->spec = spec;
  impl_->seed = context.seed;
  impl_->short_side = static_cast<int64_t>(option_number(spec, "short_side", 512));
  impl_->t = static_cast<int64_t>(option_number(spec, "t", 400));
  const std::string lora = option_text(spec, "lora", "merged"), alpha = option_text(spec, "alpha", "input");
  if (lora != "merged" && lora != "runtime") throw AdapterError("method osor-sdxl: lora must be merged or runtime");
  if (alpha != "input" && alpha != "processing") throw AdapterError("method osor-sdxl: alpha must be input or processing");
  impl_->alpha_at_processing = alpha == "processing";
  const std::string noise = option_text(spec, "noise", "");
  try {
    if (!noise.empty()) {
      const auto file = model::SafetensorsFile::open(noise);
      for (const char* key : {"posterior", "eps"})
        if (!file.contains(key)) throw AdapterError("method osor-sdxl: noise file " + noise + " has no tensor '" + key + "'");
      impl_->noise = model::OneStepNoise{file.tensor("posterior").clone(), file.tensor("eps").clone()};
    }
    impl_->device = at::Device(context.device);
    const at::ScalarType dtype = model_dtype("osor-sdxl", context.dtype);
    if (context.random_weights) {
      if (lora == "runtime")
        throw AdapterError("method osor-sdxl: lora=runtime needs the OSOR checkpoint (not with random weights)");
      impl_->model = std::make_unique<model::OsorSdxl>(
          model::OsorSdxl::random(context.weights_dir, impl_->device, dtype, context.seed));
    } else {
      model::LoraOptions lora_options;
      lora_options.merge = lora == "merged";
      impl_->model = std::make_unique<model::OsorSdxl>(model::OsorSdxl::load(
          model::OsorSdxlFiles::locate(context.weights_dir), impl_->device, dtype, lora_options));
    }
    model::OneStepExecution execution;
    execution.unet_channels_last = option_flag(spec, "channels_last", false);
    execution.cuda_graphs = option_flag(spec, "cuda_graphs", false);
    impl_->model->set_execution(execution);
  } catch (const AdapterError&) {
    throw;
  } catch (const Error& e) {
    throw AdapterError(std::string("method osor-sdxl: ") + e.what());
  }
}

OsorSdxlRemover::~OsorSdxlRemover() = default;

std::string OsorSdxlRemover::id() const { return impl_->spec.text(); }

void OsorSdxlRemover::synchronize() { model::synchronize_device(impl_->device); }

RemovalOutput OsorSdxlRemover::remove(const RemovalInput& input) {
  RemovalOutput out;
  try {
    // Pre- and postprocessing run on the host: a steady clock (StageTimer on the CPU).
    model::StageTimer host(at::kCPU);
    host.begin("preprocess");
    const int64_t h = input.image.size(2), w = input.image.size(3);
    const auto [ph, pw] = model::processing_size(h, w, impl_->short_side);
    const at::Tensor lq =
        metrics::pil_resize_u8(to_u8(input.image), ph, pw, metrics::PilFilter::Bicubic).to(at::kFloat) / 255.0;
    const at::Tensor mask = pil_nearest(input.mask, ph, pw);
    host.end();

    const auto result = impl_->model->run(lq, mask, impl_->noise, impl_->seed, impl_->t);
    out.add_stages(result.stages_ms, result.stage_calls);

    host.begin("postprocess");
    // As the script saves them: (x·255).astype(uint8) truncates, then Pillow's bicubic back to the input size.
    const at::Tensor x_u8 = (result.image * 255.0).to(at::kByte);
    out.image = metrics::pil_resize_u8(x_u8, h, w, metrics::PilFilter::Bicubic).to(at::kFloat) / 255.0;
    const at::Tensor alpha = impl_->alpha_at_processing
                                 ? result.alpha_image
                                 : at::upsample_bilinear2d(result.alpha, {h, w}, /*align_corners=*/false);
    out.alpha = at::floor(alpha * 255.0) / 255.0;
    host.end();
    const model::StageTimes host_times = host.finish();
    out.add_stages(host_times.ms, host_times.calls);
  } catch (const AdapterError&) {
    throw;
  } catch (const std::exception& e) {
    throw AdapterError("method osor-sdxl, sample '" + input.id + "': " + e.what());
  }
  return out;
}

}  // namespace osor::adapters
