// The multi-step FLUX.1-Fill baseline (model/flux_fill) against diffusers' own FluxFillPipeline (v0.32.2), run
// unmodified on the set's tiny random-weight networks (model/README.md §7, fixture flux_fill_pipeline): same input
// and mask PNGs, weights, scheduler config, prompt embeddings (OSOR's .pt, read natively), call (height, width,
// steps, guidance) and recorded draws; the uint8 output must match within the README's tolerance. Then the same
// through `osor remove --method flux-fill` with the weights-folder layout when the call is square (size=N).
// In tests/conformance/: the fixture gives the input and the mask only as PNGs (harness/image_io, OpenCV).
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/image_io.h"
#include "model/flux/flux_transformer.h"
#include "model/flux_fill/multi_step.h"
#include "model/io/prompt_cache.h"
#include "model/schedulers/flow_match_euler.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/conformance_fixture.h"
#include "tests/model/test_flux_fixture.h"
#include "tests/model/test_osor_fixture.h"
#include "tests/test_paths.h"

namespace {

// flux_fill_pipeline.json states no tolerance; the set's README does, §7: "Expect ≤ 1 level per pixel". A set
// whose JSON carries tolerance.uint8 in words is read instead.
double allowed_levels(const nlohmann::json& fixture) {
  if (!fixture.contains("tolerance")) return osor::test::readme_tolerance::kMultiStepPipelineLevels;
  return osor::test::tolerance_in_words(fixture.at("tolerance").at("uint8").get<std::string>());
}

// A file of a companion fixture the pipeline fixture names: with the pipeline fixture present, a missing one is a
// broken set and fails the test rather than skipping it.
std::filesystem::path companion_file(const std::filesystem::path& dir, const std::string& name) {
  const std::filesystem::path path = dir / name;
  REQUIRE_MESSAGE(std::filesystem::is_regular_file(path),
                  "flux_fill_pipeline.json names a fixture whose file " << path.string() << " is missing");
  return path;
}

std::string companion_config(const std::filesystem::path& dir, const std::string& fixture) {
  return osor::test::read_fixture_json(companion_file(dir, fixture + ".json")).at("config").dump();
}

osor::model::FluxFill fixture_pipeline(const osor::test::ModelFixture& fx) {
  const std::string tf = fx.json.at("transformer_fixture").get<std::string>();
  const std::string vae = fx.json.at("vae_fixture").get<std::string>();
  auto transformer = std::make_unique<osor::model::FluxTransformer2DModel>(
      osor::model::FluxTransformerConfig::from_json(companion_config(fx.dir, tf), tf + ".json:config"));
  transformer->load({companion_file(fx.dir, tf + ".weights.safetensors")});
  auto autoencoder = std::make_unique<osor::model::AutoencoderKL>(
      osor::model::VaeConfig::from_json(companion_config(fx.dir, vae), vae + ".json:config"));
  autoencoder->load({companion_file(fx.dir, vae + ".weights.safetensors")});
  auto scheduler = std::make_unique<osor::model::FlowMatchEulerScheduler>(osor::model::FlowMatchEulerConfig::from_json(
      fx.json.at("scheduler_config").dump(), "flux_fill_pipeline.json:scheduler_config"));
  const auto prompt =
      osor::model::read_prompt_cache(companion_file(fx.dir, fx.json.at("prompt_embeds").get<std::string>()));
  return osor::model::FluxFill(std::move(transformer), std::move(autoencoder), std::move(scheduler),
                               prompt.prompt_embeds, prompt.pooled_prompt_embeds);
}

}  // namespace

TEST_CASE("conformance: model/flux_fill_pipeline FluxFill reproduces diffusers' FluxFillPipeline") {
  const auto fx = osor::test::open_model_fixture("flux_fill_pipeline");
  if (!fx) return;
  const auto& call = fx->json.at("call");
  const int64_t height = call.at("height").get<int64_t>(), width = call.at("width").get<int64_t>();
  osor::model::FluxFillOptions options;
  options.steps = call.at("num_inference_steps").get<int64_t>();
  options.guidance = call.at("guidance_scale").get<double>();
  options.noise = osor::model::FluxFillNoise{fx->tensor("noise.latents"), fx->tensor("noise.masked_image_posterior")};

  // The pipeline's processors: image v/255 (2x − 1 inside run()), mask converted to gray, v/255 binarised at 0.5.
  // Both are first resized to height × width with PIL's Lanczos (VaeImageProcessor.resize), which FluxFill leaves to
  // its caller; at the call's size that resize is Pillow's identity, so the PNGs must already have it.
  const auto image = osor::harness::read_image(fx->file(".input.png"));
  REQUIRE(image.bit_depth == 8);
  REQUIRE_MESSAGE((image.rgb.size(2) == height && image.rgb.size(3) == width),
                  fx->file(".input.png").string() << " is " << image.rgb.size(3) << "x" << image.rgb.size(2)
                                                  << ", the call's size is " << width << "x" << height);
  const at::Tensor mask = osor::harness::read_mask(fx->file(".mask.png"), osor::harness::MaskPolarity::WhiteIsObject);
  REQUIRE((mask.size(2) == height && mask.size(3) == width));

  const auto result = fixture_pipeline(*fx).run(image.rgb, mask, options);
  CHECK(static_cast<int64_t>(result.timesteps.size()) == options.steps);
  CHECK(result.stage_calls.at("transformer") == options.steps);
  const at::Tensor x = result.image[0].permute({1, 2, 0});  // HWC, as the fixture stores x_f32 and output_u8
  const at::Tensor levels = x.mul(255.0).round().to(at::kLong);
  const at::Tensor expected = fx->tensor("output_u8").to(at::kLong);
  REQUIRE(levels.sizes() == expected.sizes());
  const at::Tensor diff = (levels - expected).abs();
  const int64_t worst = diff.max().item<int64_t>();
  const double allowed = allowed_levels(fx->json);
  MESSAGE("flux_fill_pipeline: max |x - x_f32| " << osor::test::max_abs_diff(x, fx->tensor("x_f32"))
                                                 << " (for bisecting), output max level difference " << worst << " over "
                                                 << diff.gt(0).sum().item<int64_t>()
                                                 << " differing channel values (allowed " << allowed << ")");
  CHECK(static_cast<double>(worst) <= allowed);
}

TEST_CASE("flux-fill scheduler: dynamic shift from the token count, sigmas end at 0, timesteps = 1000 sigma") {
  osor::model::FlowMatchEulerConfig c;
  c.use_dynamic_shifting = true;
  c.shift = 3.0;
  osor::model::FlowMatchEulerScheduler s(c);
  CHECK(s.mu(256) == doctest::Approx(0.5));
  CHECK(s.mu(4096) == doctest::Approx(1.15));
  s.set_timesteps(4, 4096);
  REQUIRE(s.sigmas().size() == 5);
  CHECK(s.sigmas().front() == 1.0f);
  CHECK(s.sigmas().back() == 0.0f);
  // σ̂ = 0.25: e^1.15 / (e^1.15 + 3) in float32.
  CHECK(s.sigmas()[3] == doctest::Approx(std::exp(1.15) / (std::exp(1.15) + 3.0)).epsilon(1e-6));
  CHECK(s.timesteps()[3] == doctest::Approx(1000.0 * s.sigmas()[3]).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(osor::model::FlowMatchEulerConfig::from_json(
                           R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "use_karras_sigmas": true})", "x.json"),
                       doctest::Contains("use_karras_sigmas is not supported"), osor::ModelError);
}

TEST_CASE("conformance: model/flux_fill_pipeline osor remove --method flux-fill runs through the weights folder at the input size") {
  const auto e2e = osor::test::open_model_fixture("osor_flux_e2e");
  if (!e2e) return;
  const auto weights = osor::test::arrange_osor_flux_weights(*e2e);  // flux-fill/{transformer,vae,scheduler}/
  const auto work = osor::test::scratch_dir("flux_fill_cli");
  const std::string cmd = std::string(OSOR_BINARY) + " remove --method flux-fill:steps=2,size=32 --image " +
                          e2e->file(".input.png").string() + " --mask " + e2e->file(".mask.png").string() +
                          " --out " + (work / "out.png").string() + " --weights " + weights.string() +
                          " --device cpu --dtype fp32 2>" + (work / "stderr.txt").string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  const auto in = osor::harness::read_image(e2e->file(".input.png")).rgb;
  const auto out = osor::harness::read_image(work / "out.png").rgb;
  CHECK(out.sizes() == in.sizes());
  std::ifstream err_file(work / "stderr.txt");
  const std::string err((std::istreambuf_iterator<char>(err_file)), std::istreambuf_iterator<char>());
  CHECK_MESSAGE(err.find("transformer=") != std::string::npos, err);
}
