#include "adapters/osor_flux.h"

#include <ATen/ATen.h>

#include "adapters/network_method.h"
#include "model/osor/osor_flux.h"

namespace osor::adapters {
namespace {

class OsorFluxRemover final : public NetworkRemover {
 public:
  OsorFluxRemover(const MethodSpec& spec, const RemoverContext& context);
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  std::unique_ptr<model::OsorFlux> model_;
  model::OsorFluxOptions options_;  // the official script's defaults
  int64_t long_side_ = 1024;
  bool alpha_at_processing_ = false;
};

OsorFluxRemover::OsorFluxRemover(const MethodSpec& spec, const RemoverContext& context)
    : NetworkRemover(spec, context, {"long_side", "t", "guidance", "time", "lora", "alpha", "prompt", "noise", "checkpoint"}) {
  auto& o = options_;
  o.seed = context.seed;
  long_side_ = static_cast<int64_t>(option_number(spec, "long_side", static_cast<double>(long_side_)));
  o.model_t = static_cast<int64_t>(option_number(spec, "t", static_cast<double>(o.model_t)));
  o.guidance = option_number(spec, "guidance", o.guidance);
  if (long_side_ < 16) refuse("long_side must be at least 16");
  if (o.model_t < 1 || o.model_t > 1000) refuse("t must be in [1, 1000]");
  const std::string lora = option_text(spec, "lora", "merged"), alpha = option_text(spec, "alpha", "input");
  const std::string time = option_text(spec, "time", "official");
  if (lora != "merged" && lora != "runtime") refuse("lora must be merged or runtime");
  if (alpha != "input" && alpha != "processing") refuse("alpha must be input or processing");
  if (time != "official" && time != "exact") refuse("time must be official or exact");
  o.exact_time = time == "exact";
  alpha_at_processing_ = alpha == "processing";
  const std::string noise = option_text(spec, "noise", ""), prompt = option_text(spec, "prompt", "");
  const std::string checkpoint = option_text(spec, "checkpoint", "");
  set_up([&] {
    if (!noise.empty()) {
      auto draws = read_noise(noise, {"posterior", "flow"});
      o.noise = model::OsorFluxNoise{draws.at("posterior"), draws.at("flow")};
    }
    const std::string needs_files = lora == "runtime"  ? "lora=runtime needs the OSOR checkpoint (not with random weights)"
                                    : !prompt.empty() ? "prompt=FILE is not used with random weights"
                                                      : "";
    model_ = build_model<model::OsorFlux>(needs_files, [&](const at::Device& device, at::ScalarType dtype) {
      model::LoraOptions lora_options;
      lora_options.merge = lora == "merged";
      return model::OsorFlux::load(model::OsorFluxFiles::locate(context.weights_dir, prompt, checkpoint), device, dtype,
                                   lora_options);
    });
  });
}

RemovalOutput OsorFluxRemover::remove(const RemovalInput& input) {
  at::Tensor lq, mask;  // at the processing size
  model::OsorFluxResult result;
  return timed_removal(
      input,
      [&] {
        const auto [ph, pw] = model::flux_processing_size(input.image.size(2), input.image.size(3), long_side_);
        lq = pil_bicubic_resize(to_u8(input.image), ph, pw);
        mask = pil_nearest_resize(input.mask, ph, pw);
      },
      [&](RemovalOutput& out) {
        result = model_->run(lq, mask, options_);
        out.add_stages(result.stages_ms, result.stage_calls);
      },
      [&](RemovalOutput& out) {
        set_osor_outputs(out, result.image, result.alpha, result.alpha_image, alpha_at_processing_,
                         input.image.size(2), input.image.size(3));
      });
}

}  // namespace

std::unique_ptr<Remover> make_osor_flux_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<OsorFluxRemover>(spec, context);
}

}  // namespace osor::adapters
