#include "adapters/osor_sdxl.h"

#include <ATen/ATen.h>

#include <optional>

#include "adapters/network_method.h"
#include "model/osor/one_step.h"

namespace osor::adapters {
namespace {

class OsorSdxlRemover final : public NetworkRemover {
 public:
  OsorSdxlRemover(const MethodSpec& spec, const RemoverContext& context);
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  std::unique_ptr<model::OsorSdxl> model_;
  std::optional<model::OneStepNoise> noise_;
  uint64_t seed_ = 0;
  int64_t short_side_ = 512, t_ = 400;  // the official script's defaults
  bool alpha_at_processing_ = false;
};

OsorSdxlRemover::OsorSdxlRemover(const MethodSpec& spec, const RemoverContext& context)
    : NetworkRemover(spec, context, {"short_side", "t", "lora", "alpha", "noise", "checkpoint", "channels_last", "cuda_graphs"}),
      seed_(context.seed) {
  short_side_ = static_cast<int64_t>(option_number(spec, "short_side", static_cast<double>(short_side_)));
  t_ = static_cast<int64_t>(option_number(spec, "t", static_cast<double>(t_)));
  const std::string lora = option_text(spec, "lora", "merged"), alpha = option_text(spec, "alpha", "input");
  if (lora != "merged" && lora != "runtime") refuse("lora must be merged or runtime");
  if (alpha != "input" && alpha != "processing") refuse("alpha must be input or processing");
  alpha_at_processing_ = alpha == "processing";
  const std::string noise = option_text(spec, "noise", "");
  const std::string checkpoint = option_text(spec, "checkpoint", "");
  set_up([&] {
    if (!noise.empty()) {
      auto draws = read_noise(noise, {"posterior", "eps"});
      noise_ = model::OneStepNoise{draws.at("posterior"), draws.at("eps")};
    }
    const std::string needs_files =
        lora == "runtime" ? "lora=runtime needs the OSOR checkpoint (not with random weights)" : "";
    model_ = build_model<model::OsorSdxl>(needs_files, [&](const at::Device& device, at::ScalarType dtype) {
      model::LoraOptions lora_options;
      lora_options.merge = lora == "merged";
      return model::OsorSdxl::load(model::OsorSdxlFiles::locate(context.weights_dir, checkpoint), device, dtype,
                                   lora_options);
    });
    model::OneStepExecution execution;
    execution.unet_channels_last = option_flag(spec, "channels_last", false);
    execution.cuda_graphs = option_flag(spec, "cuda_graphs", false);
    model_->set_execution(execution);
  });
}

RemovalOutput OsorSdxlRemover::remove(const RemovalInput& input) {
  at::Tensor lq, mask;  // at the processing size
  model::OneStepResult result;
  return timed_removal(
      input,
      [&] {
        const auto [ph, pw] = model::processing_size(input.image.size(2), input.image.size(3), short_side_);
        lq = pil_bicubic_resize(to_u8(input.image), ph, pw);
        mask = pil_nearest_resize(input.mask, ph, pw);
      },
      [&](RemovalOutput& out) {
        result = model_->run(lq, mask, noise_, seed_, t_);
        out.add_stages(result.stages_ms, result.stage_calls);
      },
      [&](RemovalOutput& out) {
        set_osor_outputs(out, result.image, result.alpha, result.alpha_image, alpha_at_processing_,
                         input.image.size(2), input.image.size(3));
      });
}

}  // namespace

std::unique_ptr<Remover> make_osor_sdxl_remover(const MethodSpec& spec, const RemoverContext& context) {
  return std::make_unique<OsorSdxlRemover>(spec, context);
}

}  // namespace osor::adapters
