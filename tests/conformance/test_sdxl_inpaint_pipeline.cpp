// The multi-step SDXL-Inpainting baseline (model/sdxl_inpaint) against diffusers' own
// StableDiffusionXLInpaintPipeline (v0.32.2), run unmodified on the set's tiny random-weight networks
// (model/README.md §7, fixture sdxl_inpaint_pipeline): same input and mask PNGs, weights, scheduler config,
// prompt embeddings, call (size, steps, guidance, strength) and recorded draws; the uint8 output must match.
// In tests/conformance/ and not tests/model/: the fixture gives the input and the mask only as PNGs, and decoding
// them needs harness/image_io (OpenCV).
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/image_io.h"
#include "model/io/safetensors.h"
#include "model/schedulers/euler_discrete.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/conformance_fixture.h"
#include "tests/model/test_osor_fixture.h"

namespace {

// sdxl_inpaint_pipeline.json states no tolerance; the set's README does, §7: "Expect ≤ 1 level per pixel" (output_u8
// is round(255·x) of a float32 run, and another float32 build may move x across a rounding boundary). A set whose
// JSON carries tolerance.uint8 in words, as osor_sdxl_e2e.json does, is read instead.
double allowed_levels(const nlohmann::json& fixture) {
  if (!fixture.contains("tolerance")) return osor::test::readme_tolerance::kMultiStepPipelineLevels;
  return osor::test::tolerance_in_words(fixture.at("tolerance").at("uint8").get<std::string>());
}

// A file of a companion fixture that the pipeline fixture names (its networks, its prompt cache): with the
// pipeline fixture present, a missing one is a broken set and fails the test rather than skipping it.
std::filesystem::path companion_file(const std::filesystem::path& dir, const std::string& name) {
  const std::filesystem::path path = dir / name;
  REQUIRE_MESSAGE(std::filesystem::is_regular_file(path),
                  "sdxl_inpaint_pipeline.json names a fixture whose file " << path.string() << " is missing");
  return path;
}

nlohmann::json companion_config(const std::filesystem::path& dir, const std::string& fixture) {
  return osor::test::read_fixture_json(companion_file(dir, fixture + ".json")).at("config");
}

std::unique_ptr<osor::model::UNet2DConditionModel> fixture_unet(const std::filesystem::path& dir,
                                                                const std::string& fixture) {
  const auto config =
      osor::model::UNetConfig::from_json(companion_config(dir, fixture).dump(), fixture + ".json:config");
  auto unet = std::make_unique<osor::model::UNet2DConditionModel>(config);
  unet->load({companion_file(dir, fixture + ".weights.safetensors")});
  return unet;
}

std::unique_ptr<osor::model::AutoencoderKL> fixture_vae(const std::filesystem::path& dir,
                                                        const std::string& fixture) {
  const auto config =
      osor::model::VaeConfig::from_json(companion_config(dir, fixture).dump(), fixture + ".json:config");
  auto vae = std::make_unique<osor::model::AutoencoderKL>(config);
  vae->load({companion_file(dir, fixture + ".weights.safetensors")});
  return vae;
}

struct PromptEmbeddings {
  at::Tensor prompt, pooled;
};

// The JSON names the prompt cache the reference loaded, `<fixture>.prompt_embeds.pt`: a torch.save pickle, which
// this project never reads. Its fixture's JSON lists that file (files.prompt_embeds_pt) with "tensors also in the
// io file": OSOR's script passes prompt_embeds as encoder_hidden_states and pooled_prompt_embeds as text_embeds,
// so <fixture>.io.safetensors holds them as encoder_hidden_states_f32 and text_embeds_f32 (bit-identical to the
// .pt's tensors in the set this test was written against). tests/model/test_osor_fixture.h takes them so too.
PromptEmbeddings fixture_prompt(const std::filesystem::path& dir, const std::string& pt_file) {
  const std::string suffix = ".prompt_embeds.pt";
  REQUIRE_MESSAGE((pt_file.size() > suffix.size() &&
                   pt_file.compare(pt_file.size() - suffix.size(), suffix.size(), suffix) == 0),
                  "sdxl_inpaint_pipeline.json: prompt_embeds '" << pt_file << "' is not a <fixture>" << suffix
                                                                << " file");
  const std::string owner = pt_file.substr(0, pt_file.size() - suffix.size());
  const auto owner_json = osor::test::read_fixture_json(companion_file(dir, owner + ".json"));
  const std::string listed = owner_json.at("files").at("prompt_embeds_pt").get<std::string>();
  REQUIRE_MESSAGE(listed.rfind(pt_file, 0) == 0, owner << ".json: files.prompt_embeds_pt is '" << listed
                                                        << "', not the cache sdxl_inpaint_pipeline.json names");
  const auto io = osor::model::SafetensorsFile::open(companion_file(dir, owner + ".io.safetensors"));
  return {io.tensor("encoder_hidden_states_f32").clone(), io.tensor("text_embeds_f32").clone()};
}

// The pipeline's draws as recorded, in its order; diffusers draws the image posterior's only when strength < 1.
osor::model::SdxlInpaintNoise recorded_draws(const osor::test::ModelFixture& fx, bool strength_max) {
  osor::model::SdxlInpaintNoise draws;
  if (!strength_max) draws.image_posterior = fx.tensor("noise.image_posterior");
  draws.latents = fx.tensor("noise.latents");
  draws.masked_image_posterior = fx.tensor("noise.masked_image_posterior");
  return draws;
}

}  // namespace

TEST_CASE("conformance: model/sdxl_inpaint_pipeline SdxlInpaint reproduces diffusers' StableDiffusionXLInpaintPipeline") {
  const auto fx = osor::test::open_model_fixture("sdxl_inpaint_pipeline");
  if (!fx) return;
  const auto& call = fx->json.at("call");
  const int64_t size = call.at("size").get<int64_t>();
  osor::model::SdxlInpaintOptions options;
  options.steps = call.at("num_inference_steps").get<int64_t>();
  options.guidance = call.at("guidance_scale").get<double>();
  options.strength = call.at("strength").get<double>();
  options.noise = recorded_draws(*fx, options.strength == 1.0);

  // The pipeline's processors: image v/255 (then 2x − 1 inside run()), mask converted to gray, v/255 binarised at
  // 0.5, i.e. object where v > 127 as read_mask thresholds. Both are first resized to height × width with PIL's
  // Lanczos (VaeImageProcessor.resize), which SdxlInpaint leaves to its caller; at the processing size that resize
  // is Pillow's identity shortcut, so the PNGs must already be size × size.
  const auto image = osor::harness::read_image(fx->file(".input.png"));
  REQUIRE_MESSAGE(image.bit_depth == 8, fx->file(".input.png").string()
                                            << ": 16-bit input (PIL would clip it to 8 bits; read_image scales it)");
  REQUIRE_MESSAGE((image.rgb.size(2) == size && image.rgb.size(3) == size),
                  fx->file(".input.png").string()
                      << " is " << image.rgb.size(3) << "x" << image.rgb.size(2) << ", the call's size is " << size
                      << "x" << size << ": the pipeline's own PIL Lanczos resize is not ported (SdxlInpaint::run "
                      << "takes the processing size)");
  const at::Tensor mask = osor::harness::read_mask(fx->file(".mask.png"), osor::harness::MaskPolarity::WhiteIsObject);
  REQUIRE_MESSAGE((mask.size(2) == size && mask.size(3) == size),
                  fx->file(".mask.png").string() << " is " << mask.size(3) << "x" << mask.size(2)
                                                 << ", the call's size is " << size << "x" << size);

  const PromptEmbeddings prompt = fixture_prompt(fx->dir, fx->json.at("prompt_embeds").get<std::string>());
  auto scheduler = std::make_unique<osor::model::EulerDiscreteScheduler>(osor::model::EulerDiscreteConfig::from_json(
      fx->json.at("scheduler_config").dump(), "sdxl_inpaint_pipeline.json:scheduler_config"));
  const osor::model::SdxlInpaint pipeline(fixture_unet(fx->dir, fx->json.at("unet_fixture").get<std::string>()),
                                          fixture_vae(fx->dir, fx->json.at("vae_fixture").get<std::string>()),
                                          std::move(scheduler), prompt.prompt, prompt.pooled);
  const auto result = pipeline.run(image.rgb, mask, options);

  // get_timesteps: min(int(n·strength), n) denoising steps (what the README's "so N steps run" counts).
  const int64_t steps_run =
      std::min<int64_t>(static_cast<int64_t>(static_cast<double>(options.steps) * options.strength), options.steps);
  CHECK(static_cast<int64_t>(result.timesteps.size()) == steps_run);

  const std::vector<int64_t> image_shape{1, 3, size, size};
  REQUIRE(result.image.sizes().vec() == image_shape);
  const at::Tensor x = result.image[0].permute({1, 2, 0});  // HWC, as the fixture stores x_f32 and output_u8
  // numpy_to_pil: (x·255).round() in float32, half to even as at::round.
  const at::Tensor levels = x.mul(255.0).round().to(at::kLong);
  const at::Tensor expected = fx->tensor("output_u8").to(at::kLong);
  REQUIRE(levels.sizes() == expected.sizes());
  const at::Tensor diff = (levels - expected).abs();
  const int64_t worst = diff.max().item<int64_t>();
  const int64_t values_off = diff.gt(0).sum().item<int64_t>();
  const double allowed = allowed_levels(fx->json);
  const double float_diff = osor::test::max_abs_diff(x, fx->tensor("x_f32"));
  MESSAGE("sdxl_inpaint_pipeline: max |x - x_f32| " << float_diff << " (for bisecting), output max level difference "
                                                    << worst << " over " << values_off
                                                    << " differing channel values (allowed " << allowed << ")");
  CHECK(static_cast<double>(worst) <= allowed);
}
