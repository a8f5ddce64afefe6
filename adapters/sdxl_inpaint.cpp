#include "adapters/sdxl_inpaint.h"

#include <ATen/ATen.h>

#include "adapters/network_method.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/unet/unet_2d_condition.h"

namespace osor::adapters {
namespace {

class SdxlInpaintRemover final : public NetworkRemover {
 public:
  SdxlInpaintRemover(const MethodSpec& spec, const RemoverContext& context);
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  // noise=FILE: the recorded draws of a pipeline run.
  model::SdxlInpaintNoise read_draws(const std::string& file) const;

  std::unique_ptr<model::SdxlInpaint> model_;
  model::SdxlInpaintOptions options_;  // its defaults are the model card's call
  int64_t size_ = 1024;                // the model card's resolution
};

SdxlInpaintRemover::SdxlInpaintRemover(const MethodSpec& spec, const RemoverContext& context)
    : NetworkRemover(spec, context, {"steps", "guidance", "strength", "size", "prompt", "noise", "channels_last"}) {
  auto& o = options_;
  o.steps = static_cast<int64_t>(option_number(spec, "steps", static_cast<double>(o.steps)));
  o.guidance = option_number(spec, "guidance", o.guidance);
  o.strength = option_number(spec, "strength", o.strength);
  o.seed = context.seed;
  size_ = static_cast<int64_t>(option_number(spec, "size", static_cast<double>(size_)));
  if (o.steps < 1) refuse("steps must be at least 1");
  if (!(o.strength > 0.0 && o.strength <= 1.0)) refuse("strength must be in (0, 1]");
  if (size_ < 8 || size_ % 8 != 0)
    refuse("size must be a positive multiple of 8 (got " + std::to_string(size_) + ")");
  const std::string noise = option_text(spec, "noise", ""), prompt = option_text(spec, "prompt", "");
  set_up([&] {
    if (!noise.empty()) o.noise = read_draws(noise);
    const std::string needs_files = prompt.empty() ? "" : "prompt=FILE is not used with random weights";
    model_ = build_model<model::SdxlInpaint>(needs_files, [&](const at::Device& device, at::ScalarType dtype) {
      return model::SdxlInpaint::load(model::SdxlInpaintFiles::locate(context.weights_dir, prompt), device, dtype);
    });
    if (option_flag(spec, "channels_last", false)) model_->unet().set_memory_format(at::MemoryFormat::ChannelsLast);
  });
}

model::SdxlInpaintNoise SdxlInpaintRemover::read_draws(const std::string& file) const {
  auto tensors = read_noise(file, {"latents", "masked_image_posterior"}, {"image_posterior"});
  model::SdxlInpaintNoise draws;
  draws.latents = tensors.at("latents");
  draws.masked_image_posterior = tensors.at("masked_image_posterior");
  if (tensors.count("image_posterior")) {
    draws.image_posterior = tensors.at("image_posterior");
  } else if (options_.strength < 1.0) {
    refuse("noise file " + file + " has no tensor 'image_posterior' (needed when strength < 1)");
  }
  return draws;
}

RemovalOutput SdxlInpaintRemover::remove(const RemovalInput& input) {
  return square_resized_removal(input, size_, [&](const at::Tensor& image, const at::Tensor& mask, RemovalOutput& out) {
    const model::SdxlInpaintResult result = model_->run(image, mask, options_);
    out.add_stages(result.stages_ms, result.stage_calls);
    out.image = result.image;
  });
}

}  // namespace

std::unique_ptr<Remover> make_sdxl_inpaint_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<SdxlInpaintRemover>(spec, context);
}

}  // namespace osor::adapters
