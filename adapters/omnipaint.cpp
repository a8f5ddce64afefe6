#include "adapters/omnipaint.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "adapters/network_method.h"
#include "metrics/resize.h"
#include "model/flux_baselines/omnipaint.h"

namespace osor::adapters {
namespace {

at::Tensor lanczos_u8(const at::Tensor& u8, int64_t height, int64_t width) {
  if (u8.size(2) == height && u8.size(3) == width) return u8;  // Pillow returns a copy at the same size
  return metrics::pil_resize_u8(u8, height, width, metrics::PilFilter::Lanczos);
}

class OmniPaintRemover final : public NetworkRemover {
 public:
  OmniPaintRemover(const MethodSpec& spec, const RemoverContext& context);
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  std::unique_ptr<model::OmniPaint> model_;
  model::OmniPaintOptions options_;
  int64_t long_side_ = 1024;
};

OmniPaintRemover::OmniPaintRemover(const MethodSpec& spec, const RemoverContext& context)
    : NetworkRemover(spec, context, {"steps", "guidance", "long_side", "prompt", "noise"}) {
  auto& o = options_;
  o.steps = static_cast<int64_t>(option_number(spec, "steps", static_cast<double>(o.steps)));
  o.guidance = option_number(spec, "guidance", o.guidance);
  o.seed = context.seed;
  long_side_ = static_cast<int64_t>(option_number(spec, "long_side", static_cast<double>(long_side_)));
  if (o.steps < 1) refuse("steps must be at least 1");
  if (long_side_ < 16) refuse("long_side must be at least 16");
  const std::string noise = option_text(spec, "noise", ""), prompt = option_text(spec, "prompt", "");
  set_up([&] {
    if (!noise.empty()) {
      auto draws = read_noise(noise, {"latents", "condition_posterior"});
      o.noise = model::OmniPaintNoise{draws.at("latents"), draws.at("condition_posterior")};
    }
    const std::string needs_files = prompt.empty() ? "" : "prompt=FILE is not used with random weights";
    model_ = build_model<model::OmniPaint>(needs_files, [&](const at::Device& device, at::ScalarType dtype) {
      return model::OmniPaint::load(model::OmniPaintFiles::locate(context.weights_dir, prompt), device, dtype);
    });
  });
}

RemovalOutput OmniPaintRemover::remove(const RemovalInput& input) {
  const int64_t in_h = input.image.size(2), in_w = input.image.size(3);
  const OmniPaintSizes s = omnipaint_sizes(in_h, in_w, long_side_);
  if (s.condition_height < 16 || s.condition_width < 16)
    refuse("sample '" + input.id + "': the image is smaller than 16 pixels on a side after the resize");
  at::Tensor condition;
  return timed_removal(
      input,
      [&] {
        const at::Tensor image = lanczos_u8(to_u8(input.image), s.height, s.width);
        const at::Tensor mask = lanczos_u8(to_u8(input.mask), s.height, s.width);
        condition = lanczos_u8(omnipaint_composite(image, mask), s.condition_height, s.condition_width)
                        .to(at::kFloat) / 255.0;
      },
      [&](RemovalOutput& out) {
        const model::FluxDevResult result = model_->run(condition, options_);
        out.add_stages(result.stages_ms, result.stage_calls);
        out.image = result.image;
      },
      [&](RemovalOutput& out) {
        const at::Tensor capped = lanczos_u8(to_u8(out.image), s.height, s.width);
        out.image = lanczos_u8(capped, in_h, in_w).to(at::kFloat) / 255.0;
      });
}

}  // namespace

OmniPaintSizes omnipaint_sizes(int64_t height, int64_t width, int64_t long_side) {
  OmniPaintSizes s{height, width, 0, 0};
  const int64_t longest = std::max(height, width);
  if (longest > long_side) {
    // resize_with_aspect_ratio: scale = max_length / max(w, h); (int(w * scale), int(h * scale)).
    const double scale = static_cast<double>(long_side) / static_cast<double>(longest);
    s.height = static_cast<int64_t>(static_cast<double>(height) * scale);
    s.width = static_cast<int64_t>(static_cast<double>(width) * scale);
  }
  s.condition_height = s.height / 16 * 16;
  s.condition_width = s.width / 16 * 16;
  return s;
}

at::Tensor omnipaint_composite(const at::Tensor& image_u8, const at::Tensor& mask_u8) {
  // Pillow's paste with an "L" mask onto black: DIV255(in · mask') with mask' = 255 − mask,
  // DIV255(v) = ((v + 128) >> 8 + (v + 128)) >> 8 — round(v / 255).
  const at::Tensor v = image_u8.to(at::kInt) * (255 - mask_u8.to(at::kInt)) + 128;
  return at::div(at::div(v, 256, "floor") + v, 256, "floor").to(at::kByte);
}

std::unique_ptr<Remover> make_omnipaint_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<OmniPaintRemover>(spec, context);
}

}  // namespace osor::adapters
