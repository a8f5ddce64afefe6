#include "adapters/omnieraser.h"

#include <ATen/ATen.h>

#include "adapters/network_method.h"
#include "model/flux_baselines/omnieraser.h"

namespace osor::adapters {
namespace {

class OmniEraserRemover final : public NetworkRemover {
 public:
  OmniEraserRemover(const MethodSpec& spec, const RemoverContext& context);
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  std::unique_ptr<model::OmniEraser> model_;
  model::OmniEraserOptions options_;  // test_control_lora_flux.py's call
  int64_t size_ = 1024;
};

OmniEraserRemover::OmniEraserRemover(const MethodSpec& spec, const RemoverContext& context)
    : NetworkRemover(spec, context, {"steps", "guidance", "size", "prompt", "noise"}) {
  auto& o = options_;
  o.steps = static_cast<int64_t>(option_number(spec, "steps", static_cast<double>(o.steps)));
  o.guidance = option_number(spec, "guidance", o.guidance);
  o.seed = context.seed;
  size_ = static_cast<int64_t>(option_number(spec, "size", static_cast<double>(size_)));
  if (o.steps < 1) refuse("steps must be at least 1");
  if (size_ < 16 || size_ % 16 != 0)
    refuse("size must be a positive multiple of 16 (got " + std::to_string(size_) + ")");
  const std::string noise = option_text(spec, "noise", ""), prompt = option_text(spec, "prompt", "");
  set_up([&] {
    if (!noise.empty()) {
      auto draws = read_noise(noise, {"foreground_posterior", "masked_image_posterior", "latents"});
      o.noise = model::OmniEraserNoise{draws.at("foreground_posterior"), draws.at("masked_image_posterior"),
                                       draws.at("latents")};
    }
    const std::string needs_files = prompt.empty() ? "" : "prompt=FILE is not used with random weights";
    model_ = build_model<model::OmniEraser>(needs_files, [&](const at::Device& device, at::ScalarType dtype) {
      return model::OmniEraser::load(model::OmniEraserFiles::locate(context.weights_dir, prompt), device, dtype);
    });
  });
}

RemovalOutput OmniEraserRemover::remove(const RemovalInput& input) {
  return square_resized_removal(input, size_, [&](const at::Tensor& image, const at::Tensor& mask, RemovalOutput& out) {
    const model::FluxDevResult result = model_->run(image, mask, options_);
    out.add_stages(result.stages_ms, result.stage_calls);
    out.image = result.image;
  });
}

}  // namespace

std::unique_ptr<Remover> make_omnieraser_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<OmniEraserRemover>(spec, context);
}

}  // namespace osor::adapters
