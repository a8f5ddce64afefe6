// osor remove: one image through one removal method (--method NAME[:key=value,...]), output PNG (+ alpha).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "adapters/error.h"
#include "adapters/registry.h"
#include "harness/cli/commands.h"
#include "harness/cli/common_options.h"
#include "harness/image_io.h"
#include "model/weights_manifest.h"

namespace osor::cli {
namespace {

struct RemoveArgs {
  std::string method, image, mask, out, alpha, weights, noise, device = "cpu", dtype = "fp32", polarity = "white";
  uint64_t seed = 0;
};

void run_remove(const RemoveArgs& args) {
  adapters::MethodSpec spec = adapters::MethodSpec::parse(args.method);
  if (!args.noise.empty()) spec.options["noise"] = args.noise;
  adapters::RemoverContext context;
  context.weights_dir = model::resolve_weights_dir(args.weights);
  context.device = args.device;
  context.dtype = args.dtype;
  context.seed = args.seed;
  auto remover = adapters::make_remover(spec, context);

  adapters::RemovalInput input;
  input.image_path = args.image;
  input.mask_path = args.mask;
  input.id = std::filesystem::path(args.image).stem().string();
  input.image = harness::read_image(args.image).rgb;
  input.mask = harness::read_mask(args.mask, harness::parse_mask_polarity(args.polarity));
  const adapters::RemovalOutput output = remover->remove(input);
  harness::write_image(args.out, output.image);
  if (!args.alpha.empty()) {
    if (!output.alpha.defined()) throw AdapterError("method " + spec.name + " predicts no alpha (--alpha " + args.alpha + ")");
    harness::write_image(args.alpha, output.alpha.expand({1, 3, -1, -1}));
  }
  std::string stages;
  for (const auto& [name, ms] : output.stages_ms) stages += " " + name + "=" + std::to_string(ms) + "ms";
  std::fprintf(stderr, "%s: wrote %s%s\n", remover->id().c_str(), args.out.c_str(), stages.c_str());
}

void add_remove_command(CLI::App& app) {
  auto args = std::make_shared<RemoveArgs>();
  CLI::App* cmd = app.add_subcommand("remove", "Remove the masked object from one image with one method");
  add_method_option(*cmd, args->method);
  cmd->add_option("--image", args->image, "input image")->required();
  cmd->add_option("--mask", args->mask, "object mask (white = object)")->required();
  cmd->add_option("--out", args->out, "output PNG")->required();
  cmd->add_option("--alpha", args->alpha, "write the predicted alpha map here (methods that predict one)");
  add_mask_polarity_option(*cmd, args->polarity);
  add_weights_option(*cmd, args->weights);
  add_device_option(*cmd, args->device);
  add_dtype_option(*cmd, args->dtype);
  auto* seed = cmd->add_option("--seed", args->seed, "seed of the random draws")->capture_default_str();
  cmd->add_option("--noise", args->noise,
                  "safetensors file with the method's recorded noise (osor-sdxl: posterior, eps; osor-flux: posterior, "
                  "flow; sdxl-inpaint: image_posterior, latents, masked_image_posterior; flux-fill: latents, "
                  "masked_image_posterior; omnipaint: latents, condition_posterior; omnieraser: foreground_posterior, "
                  "masked_image_posterior, latents)")
      ->excludes(seed);
  cmd->callback([args] { run_remove(*args); });
}

}  // namespace

OSOR_REGISTER_COMMAND("remove", add_remove_command);

}  // namespace osor::cli
