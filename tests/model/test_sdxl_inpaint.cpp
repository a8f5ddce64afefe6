// The multi-step SDXL-Inpainting baseline (model/sdxl_inpaint, model/schedulers/euler_discrete): the Euler
// schedule against numbers computed by tests/fixtures/model/euler_discrete_reference.py — an independent numpy
// re-implementation of diffusers' formulas, NOT values produced by diffusers itself (no torch where it was run) —
// step()/scale_model_input()/add_noise() against their closed forms, and the pipeline on tiny random networks of
// the real architectures (draw order, conditioning inputs, guidance batching, call counts, no re-blending,
// loading from the weights layout, `osor remove`).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <doctest/doctest.h>
#include <torch/torch.h>  // named_parameters() of the tiny networks, to write them as a weights layout

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/schedulers/euler_discrete.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/test_paths.h"
#ifdef OSOR_BINARY
#include "tests/cli/osor_command.h"
#endif

namespace {

using osor::model::EulerDiscreteConfig;
using osor::model::EulerDiscreteScheduler;

// stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json (spec/model.md §3.2), which the
// SDXL-Inpainting repository shares.
constexpr const char* kSdxlScheduler = R"({"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012,
  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false, "interpolation_type": "linear",
  "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": false,
  "skip_prk_steps": true, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": null,
  "use_karras_sigmas": false})";

// Tiny configurations of the SDXL-inpainting UNet (9 input channels, text_time conditioning: 6 time ids × 8 +
// pooled 20 = 68) and of the SDXL VAE (4 levels: latent grid = image / 8).
constexpr const char* kTinyUNet = R"({"_class_name": "UNet2DConditionModel", "act_fn": "silu",
  "addition_embed_type": "text_time", "addition_time_embed_dim": 8, "attention_head_dim": [2, 4, 5],
  "block_out_channels": [16, 32, 40], "cross_attention_dim": 24,
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "flip_sin_to_cos": true,
  "freq_shift": 0, "in_channels": 9, "layers_per_block": 2, "norm_num_groups": 8, "out_channels": 4,
  "projection_class_embeddings_input_dim": 68, "transformer_layers_per_block": [1, 1, 1],
  "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "use_linear_projection": true})";
constexpr const char* kTinyVae = R"({"_class_name": "AutoencoderKL", "act_fn": "silu",
  "block_out_channels": [8, 16, 32, 32], "force_upcast": false, "in_channels": 3, "latent_channels": 4,
  "layers_per_block": 1, "norm_num_groups": 4, "out_channels": 3, "scaling_factor": 0.13025})";

std::unique_ptr<EulerDiscreteScheduler> sdxl_scheduler(const std::string& json = kSdxlScheduler) {
  return std::make_unique<EulerDiscreteScheduler>(EulerDiscreteConfig::from_json(json, "test scheduler"));
}

osor::model::SdxlInpaint tiny_pipeline(const char* unet_json = kTinyUNet) {
  auto unet = std::make_unique<osor::model::UNet2DConditionModel>(
      osor::model::UNetConfig::from_json(unet_json, "tiny unet"));
  unet->randomize(11);
  auto vae = std::make_unique<osor::model::AutoencoderKL>(osor::model::VaeConfig::from_json(kTinyVae, "tiny vae"));
  vae->randomize(12);
  auto gen = at::detail::createCPUGenerator(13);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor prompt = at::randn({1, 8, 24}, gen, f32), pooled = at::randn({1, 20}, gen, f32);  // in this order
  return osor::model::SdxlInpaint(std::move(unet), std::move(vae), sdxl_scheduler(), prompt, pooled);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::vector<std::pair<std::string, at::Tensor>> state_of(torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

// The networks of tiny_pipeline() written as the weights-directory layout (sdxl-inpainting/{unet,vae,scheduler},
// osor-sdxl/prompt_embeds.safetensors) under a scratch folder of this name.
std::filesystem::path write_tiny_layout(const std::string& name, const char* force_upcast = "false") {
  const auto dir = osor::test::scratch_dir(name);
  auto pipe = tiny_pipeline();
  auto vae_json = nlohmann::json::parse(kTinyVae);
  if (std::string(force_upcast) == "absent") vae_json.erase("force_upcast");
  else vae_json["force_upcast"] = std::string(force_upcast) == "true";
  write_text(dir / "sdxl-inpainting/unet/config.json", kTinyUNet);
  write_text(dir / "sdxl-inpainting/vae/config.json", vae_json.dump());
  write_text(dir / "sdxl-inpainting/scheduler/scheduler_config.json", kSdxlScheduler);
  osor::model::write_safetensors(dir / "sdxl-inpainting/unet/diffusion_pytorch_model.safetensors",
                                 state_of(pipe.unet().module()));
  osor::model::write_safetensors(dir / "sdxl-inpainting/vae/diffusion_pytorch_model.safetensors",
                                 state_of(pipe.vae().module()));
  auto gen = at::detail::createCPUGenerator(13);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  std::filesystem::create_directories(dir / "osor-sdxl");
  const at::Tensor prompt = at::randn({1, 8, 24}, gen, f32), pooled = at::randn({1, 20}, gen, f32);
  osor::model::write_safetensors(dir / "osor-sdxl/prompt_embeds.safetensors",
                                 {{"prompt_embeds", prompt}, {"pooled_prompt_embeds", pooled}});
  return dir;
}

struct TinyInputs {
  at::Tensor image, mask;
};

TinyInputs tiny_inputs() {
  auto gen = at::detail::createCPUGenerator(5);
  TinyInputs in;
  in.image = at::rand({1, 3, 64, 64}, gen, at::TensorOptions().dtype(at::kFloat));
  in.mask = at::zeros({1, 1, 64, 64});
  in.mask.narrow(2, 20, 24).narrow(3, 12, 30).fill_(1.0);
  return in;
}

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("sdxl-inpaint: Euler timesteps and sigmas match the numpy re-implementation of diffusers' formulas") {
  // Expected values: tests/fixtures/model/euler_discrete_reference.json, computed by the script next to it from
  // diffusers' formulas (not produced by diffusers). Timesteps exactly; σ within 1e-6 relative (bit-exact here;
  // the script emulates torch's AVX2 linspace, and another CPU dispatch of at::linspace may move an ulp).
  std::ifstream in(osor::test::fixtures_dir() / "model" / "euler_discrete_reference.json");
  REQUIRE(in);
  const auto ref = nlohmann::json::parse(in);
  REQUIRE(ref.at("cases").size() == 4);
  for (const auto& c : ref.at("cases")) {
    const std::string name = c.at("name");
    INFO(name);
    auto config = nlohmann::json::parse(kSdxlScheduler);
    for (const auto& [key, value] : c.at("config").items()) config[key] = value;
    auto scheduler = sdxl_scheduler(config.dump());
    scheduler->set_timesteps(c.at("steps").get<int64_t>());
    const auto ts = c.at("timesteps").get<std::vector<double>>();
    const auto sig = c.at("sigmas").get<std::vector<double>>();
    REQUIRE(scheduler->timesteps().size() == ts.size());
    REQUIRE(scheduler->sigmas().size() == sig.size());
    for (size_t i = 0; i < ts.size(); ++i) CHECK(static_cast<double>(scheduler->timesteps()[i]) == ts[i]);
    double worst = 0;
    for (size_t i = 0; i < sig.size(); ++i) {
      const double got = scheduler->sigmas()[i];
      worst = std::max(worst, sig[i] == 0 ? std::abs(got) : std::abs(got - sig[i]) / sig[i]);
    }
    MESSAGE(name << ": sigmas max relative difference " << worst << " (allowed 1e-6)");
    CHECK(worst <= 1e-6);
    const double init = c.at("init_noise_sigma").get<double>();
    CHECK(std::abs(scheduler->init_noise_sigma() - init) / init <= 1e-6);
    const int64_t t_start = scheduler->start_index(c.at("strength").get<double>());
    CHECK(t_start == c.at("t_start").get<int64_t>());
    CHECK(scheduler->num_inference_steps() - t_start == c.at("steps_run").get<int64_t>());
  }
}

TEST_CASE("sdxl-inpaint: the model card's schedule runs 19 of 20 leading timesteps from 901") {
  auto s = sdxl_scheduler();
  s->set_timesteps(20);
  CHECK(s->timesteps().front() == 951.0f);
  CHECK(s->timesteps().back() == 1.0f);
  CHECK(s->sigmas().back() == 0.0f);
  const int64_t start = s->start_index(0.99);  // int(20 · 0.99) = 19
  CHECK(start == 1);
  CHECK(s->timesteps()[start] == 901.0f);
  CHECK(s->start_index(1.0) == 0);
}

TEST_CASE("sdxl-inpaint: Euler step, scale_model_input and add_noise equal their closed forms") {
  auto s = sdxl_scheduler();
  s->set_timesteps(20);
  const int64_t i = 3;
  const double sigma = s->sigmas()[i], next = s->sigmas()[i + 1];
  const at::Tensor x = at::linspace(-2.0, 3.0, 64).reshape({1, 4, 4, 4});
  const at::Tensor e = at::cos(at::arange(64, at::kFloat)).reshape({1, 4, 4, 4});
  const at::Tensor xd = x.to(at::kDouble), ed = e.to(at::kDouble);

  // epsilon: x0 = x − σε, x_prev = x + (x − x0)/σ · (σ_next − σ) = x + ε (σ_next − σ)
  const auto step = s->step(e, i, x);
  CHECK((step.prev_sample.scalar_type() == at::kFloat));
  CHECK(max_abs(step.pred_original_sample, xd - sigma * ed) <= 1e-5);
  CHECK(max_abs(step.prev_sample, xd + ed * (next - sigma)) <= 1e-5);
  CHECK(max_abs(s->scale_model_input(x, i), xd / std::sqrt(sigma * sigma + 1)) <= 1e-6);
  CHECK(max_abs(s->add_noise(x, e, i), xd + sigma * ed) <= 1e-5);

  // v_prediction: x0 = −σ/√(σ²+1)·v + x/(σ²+1)
  auto config = nlohmann::json::parse(kSdxlScheduler);
  config["prediction_type"] = "v_prediction";
  auto v = sdxl_scheduler(config.dump());
  v->set_timesteps(20);
  const at::Tensor x0 = -sigma / std::sqrt(sigma * sigma + 1) * ed + xd / (sigma * sigma + 1);
  const auto vstep = v->step(e, i, x);
  CHECK(max_abs(vstep.pred_original_sample, x0) <= 1e-5);
  CHECK(max_abs(vstep.prev_sample, xd + (xd - x0) / sigma * (next - sigma)) <= 1e-5);

  // Half-precision model outputs: computed in float32, returned in the model output's dtype.
  CHECK((s->step(e.to(at::kHalf), i, x.to(at::kHalf)).prev_sample.scalar_type() == at::kHalf));
}

TEST_CASE("sdxl-inpaint: scheduler configs the port does not implement are named") {
  auto with = [](const char* key, nlohmann::json value) {
    auto j = nlohmann::json::parse(kSdxlScheduler);
    j[key] = std::move(value);
    return j.dump();
  };
  CHECK_THROWS_WITH_AS(EulerDiscreteConfig::from_json(with("use_karras_sigmas", true), "s.json"),
                       doctest::Contains("use_karras_sigmas"), osor::ModelError);
  CHECK_THROWS_WITH_AS(EulerDiscreteConfig::from_json(with("_class_name", "DDIMScheduler"), "s.json"),
                       doctest::Contains("DDIMScheduler"), osor::ModelError);
  CHECK_THROWS_WITH_AS(EulerDiscreteConfig::from_json(with("interpolation_type", "log_linear"), "s.json"),
                       doctest::Contains("log_linear"), osor::ModelError);
  CHECK_THROWS_WITH_AS(EulerDiscreteConfig::from_json(with("timestep_spacing", "karras"), "s.json"),
                       doctest::Contains("timestep_spacing"), osor::ModelError);
}

TEST_CASE("sdxl-inpaint: pipeline on tiny networks (draw order, conditioning, call counts, determinism)") {
  auto pipe = tiny_pipeline();
  const auto in = tiny_inputs();
  osor::model::SdxlInpaintOptions opt;
  opt.steps = 3;
  opt.guidance = 8.0;
  opt.strength = 0.99;
  opt.seed = 7;
  const auto r = pipe.run(in.image, in.mask, opt);
  REQUIRE(r.image.sizes() == at::IntArrayRef({1, 3, 64, 64}));
  CHECK((r.image.scalar_type() == at::kFloat));
  CHECK(r.image.min().item<float>() >= 0.0f);
  CHECK(r.image.max().item<float>() <= 1.0f);
  CHECK(at::isfinite(r.image).all().item<bool>());

  // int(3 · 0.99) = 2 denoising steps: timesteps[1:] of the leading schedule [667, 334, 1].
  CHECK(r.stage_calls.at("unet") == 2);
  CHECK(r.stage_calls.at("vae_encode") == 2);  // image latents (strength < 1) and masked-image latents
  CHECK(r.stage_calls.at("vae_decode") == 1);
  CHECK(r.timesteps == std::vector<float>{334.0f, 1.0f});
  CHECK(r.stages_ms.count("unet") == 1);

  // Same seed, same output; another seed, another output.
  CHECK(at::equal(pipe.run(in.image, in.mask, opt).image, r.image));
  auto other = opt;
  other.seed = 8;
  CHECK_FALSE(at::equal(pipe.run(in.image, in.mask, other).image, r.image));

  // The draws in the pipeline's order from one generator: image posterior, initial noise, masked-image posterior.
  auto gen = at::detail::createCPUGenerator(7);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  osor::model::SdxlInpaintNoise draws;
  draws.image_posterior = at::randn({1, 4, 8, 8}, gen, f32);
  draws.latents = at::randn({1, 4, 8, 8}, gen, f32);
  draws.masked_image_posterior = at::randn({1, 4, 8, 8}, gen, f32);
  auto recorded = opt;
  recorded.noise = draws;
  CHECK(at::equal(pipe.run(in.image, in.mask, recorded).image, r.image));

  // Conditioning: masked image = (2x − 1)·(mask < 0.5), encoded to a posterior sample × scaling factor; the image
  // latents noised to σ[t_start]; the mask sampled nearest onto the latent grid.
  auto& vae = pipe.vae();
  const at::Tensor x = in.image * 2 - 1;
  const double sf = 0.13025;
  const at::Tensor masked = vae.encode(x * (in.mask < 0.5)).sample(draws.masked_image_posterior) * sf;
  CHECK(max_abs(r.trace.at("masked_image_latents"), masked) <= 1e-6);
  const at::Tensor z_img = vae.encode(x).sample(draws.image_posterior) * sf;
  auto s = sdxl_scheduler();
  s->set_timesteps(3);
  CHECK(max_abs(r.trace.at("z_init"), z_img + draws.latents * s->sigmas()[1]) <= 1e-6);
  const at::Tensor nearest = in.mask.index({at::indexing::Slice(), at::indexing::Slice(),
                                            at::indexing::Slice(0, 64, 8), at::indexing::Slice(0, 64, 8)});
  CHECK(at::equal(r.trace.at("mask_latent"), nearest));

  // Strength 1: pure noise × init_noise_sigma, all 3 steps, one encode (no image latents, so one draw fewer).
  auto full = opt;
  full.strength = 1.0;
  const auto rf = pipe.run(in.image, in.mask, full);
  CHECK(rf.stage_calls.at("unet") == 3);
  CHECK(rf.stage_calls.at("vae_encode") == 1);
  auto gen_full = at::detail::createCPUGenerator(7);
  const at::Tensor noise_full = at::randn({1, 4, 8, 8}, gen_full, f32);
  CHECK(max_abs(rf.trace.at("z_init"), noise_full * s->init_noise_sigma()) <= 1e-6);

  // The 9-channel pipeline does not paste the input back: unmasked pixels are the decoder's, not the input's.
  const at::Tensor keep = (in.mask < 0.5).expand({1, 3, 64, 64});
  CHECK((r.image - in.image).abs().masked_select(keep).max().item<double>() > 0.05);
}

TEST_CASE("sdxl-inpaint: guidance 1 runs the unguided path, and the batched guidance path agrees with it") {
  const auto pipe = tiny_pipeline();
  const auto in = tiny_inputs();
  osor::model::SdxlInpaintOptions opt;
  opt.steps = 2;
  opt.strength = 1.0;
  opt.seed = 3;
  opt.guidance = 1.0;  // do_classifier_free_guidance is guidance_scale > 1: one batch-1 UNet call per step
  const auto unguided = pipe.run(in.image, in.mask, opt);
  // Just above 1 the [negative, positive] batch runs, and ε = ε_u + g(ε_c − ε_u) differs from ε_c by
  // (g − 1)(ε_c − ε_u) ≈ 1e-6·|ε_c − ε_u|: the batched call's positive half must match the single call.
  opt.guidance = 1.0 + 1e-6;
  const auto batched = pipe.run(in.image, in.mask, opt);
  const double d = max_abs(batched.image, unguided.image);
  MESSAGE("guidance 1 vs batched guidance 1+1e-6: max |Δ| " << d << " (allowed 1e-5)");
  CHECK(d <= 1e-5);
  CHECK(batched.stage_calls.at("unet") == 2);
  // And guidance does act when it is large.
  opt.guidance = 8.0;
  CHECK(max_abs(pipe.run(in.image, in.mask, opt).image, unguided.image) > 1e-3);
}

TEST_CASE("sdxl-inpaint: a bfloat16 pipeline runs in its dtype and stays near the float32 one") {
  auto make = [](at::ScalarType dtype) {
    const auto options = at::TensorOptions().dtype(dtype);
    auto unet = std::make_unique<osor::model::UNet2DConditionModel>(
        osor::model::UNetConfig::from_json(kTinyUNet, "tiny unet"), options);
    unet->randomize(11);
    auto vae = std::make_unique<osor::model::AutoencoderKL>(osor::model::VaeConfig::from_json(kTinyVae, "tiny vae"),
                                                            options);
    vae->randomize(12);
    auto gen = at::detail::createCPUGenerator(13);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor prompt = at::randn({1, 8, 24}, gen, f32), pooled = at::randn({1, 20}, gen, f32);
    return osor::model::SdxlInpaint(std::move(unet), std::move(vae), sdxl_scheduler(), prompt, pooled);
  };
  const auto in = tiny_inputs();
  osor::model::SdxlInpaintOptions opt;
  opt.steps = 2;
  opt.strength = 0.99;
  opt.seed = 1;
  const auto bf = make(at::kBFloat16).run(in.image, in.mask, opt);
  const auto fp = make(at::kFloat).run(in.image, in.mask, opt);
  CHECK((bf.trace.at("z_final").scalar_type() == at::kBFloat16));
  CHECK((bf.image.scalar_type() == at::kFloat));
  CHECK(at::isfinite(bf.image).all().item<bool>());
  const double mean = (bf.image - fp.image).abs().mean().item<double>();
  MESSAGE("bf16 vs fp32 tiny pipeline: mean |Δ| " << mean << " (allowed 0.05)");
  CHECK(mean <= 0.05);
}

TEST_CASE("sdxl-inpaint: load() reads the weights layout, and an fp16 pipeline upcasts a force_upcast VAE") {
  const auto dir = write_tiny_layout("sdxl_inpaint_layout");
  const auto files = osor::model::SdxlInpaintFiles::locate(dir);
  const auto in = tiny_inputs();
  osor::model::SdxlInpaintOptions opt;
  opt.steps = 2;
  opt.seed = 9;
  // The same networks through the files give the same pixels.
  CHECK(at::equal(osor::model::SdxlInpaint::load(files, at::kCPU, at::kFloat).run(in.image, in.mask, opt).image,
                  tiny_pipeline().run(in.image, in.mask, opt).image));

  // fp16: the UNet in fp16; the VAE in float32 with fp16-rounded weights when force_upcast is set (or absent:
  // diffusers' default is true), in fp16 otherwise. (Construction only: CPU convolutions lack fp16 here.)
  auto first_vae_weight = [](osor::model::SdxlInpaint& p) { return p.vae().module().parameters().front(); };
  for (const char* setting : {"true", "absent"}) {
    INFO(setting);
    const auto up_dir = write_tiny_layout(std::string("sdxl_inpaint_layout_upcast_") + setting, setting);
    auto up = osor::model::SdxlInpaint::load(osor::model::SdxlInpaintFiles::locate(up_dir), at::kCPU, at::kHalf);
    CHECK((up.unet().options().dtype() == at::kHalf));
    CHECK((up.vae().options().dtype() == at::kFloat));
    const at::Tensor w = first_vae_weight(up);
    CHECK((w.scalar_type() == at::kFloat));
    CHECK(at::equal(w, w.to(at::kHalf).to(at::kFloat)));
  }
  auto plain = osor::model::SdxlInpaint::load(files, at::kCPU, at::kHalf);
  CHECK((plain.vae().options().dtype() == at::kHalf));

  // prompt=FILE: another prompt cache replaces osor-sdxl/prompt_embeds.safetensors.
  osor::model::write_safetensors(dir / "other_prompt.safetensors", {{"prompt_embeds", at::zeros({1, 8, 24})},
                                                                    {"pooled_prompt_embeds", at::zeros({1, 20})}});
  const auto other = osor::model::SdxlInpaintFiles::locate(dir, dir / "other_prompt.safetensors");
  CHECK(other.prompt_embeds == dir / "other_prompt.safetensors");
  CHECK_FALSE(at::equal(osor::model::SdxlInpaint::load(other, at::kCPU, at::kFloat).run(in.image, in.mask, opt).image,
                        tiny_pipeline().run(in.image, in.mask, opt).image));
}

TEST_CASE("sdxl-inpaint: random() builds the networks from model/configs alone and names a missing config") {
  const auto pipe = osor::model::SdxlInpaint::random(std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny",
                                                     at::kCPU, at::kFloat, 3);
  const auto in = tiny_inputs();
  osor::model::SdxlInpaintOptions opt;
  opt.steps = 2;  // int(2 · 0.99) = 1 step
  const auto r = pipe.run(in.image, in.mask, opt);
  CHECK(r.image.sizes() == at::IntArrayRef({1, 3, 64, 64}));
  CHECK(r.stage_calls.at("unet") == 1);
  const auto empty = osor::test::scratch_dir("sdxl_inpaint_random_no_configs");
  CHECK_THROWS_WITH_AS(osor::model::SdxlInpaint::random(empty, at::kCPU, at::kFloat),
                       doctest::Contains("sdxl-inpainting/scheduler/scheduler_config.json"), osor::ModelError);
}

TEST_CASE("sdxl-inpaint: wrong UNet, bad sizes and missing weights are named") {
  auto four = nlohmann::json::parse(kTinyUNet);
  four["in_channels"] = 4;
  CHECK_THROWS_WITH_AS(tiny_pipeline(four.dump().c_str()), doctest::Contains("inpainting UNet"), osor::ModelError);

  const auto pipe = tiny_pipeline();
  CHECK_THROWS_WITH_AS(pipe.run(at::zeros({1, 3, 60, 64}), at::zeros({1, 1, 60, 64}), {}),
                       doctest::Contains("multiples of 8"), osor::ModelError);
  osor::model::SdxlInpaintOptions none;
  none.steps = 3;
  none.strength = 0.2;  // int(0.6) = 0 steps
  CHECK_THROWS_WITH_AS(pipe.run(at::zeros({1, 3, 64, 64}), at::zeros({1, 1, 64, 64}), none),
                       doctest::Contains("no denoising step"), osor::ModelError);

  const auto empty = osor::test::scratch_dir("sdxl_inpaint_no_weights");
  try {
    osor::model::SdxlInpaintFiles::locate(empty);
    FAIL("expected a ModelError");
  } catch (const osor::ModelError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("sdxl-inpainting/unet/config.json") != std::string::npos);
    CHECK(msg.find("sdxl-inpainting/scheduler/scheduler_config.json") != std::string::npos);
    CHECK(msg.find("osor-sdxl/prompt_embeds.safetensors") != std::string::npos);
    CHECK(msg.find("stable-diffusion-xl-1.0-inpainting-0.1") != std::string::npos);
    CHECK(msg.find("osor-sdxl/state_dict.safetensors") == std::string::npos);  // OSOR's checkpoint is not needed
    CHECK(msg.find('\n') == std::string::npos);
  }
  // The fp16 variant is taken where it is the only weights file.
  std::filesystem::create_directories(empty / "sdxl-inpainting/unet");
  std::ofstream(empty / "sdxl-inpainting/unet/diffusion_pytorch_model.fp16.safetensors") << "x";
  CHECK(osor::model::SdxlInpaintFiles::under(empty).unet_weights.filename() ==
        "diffusion_pytorch_model.fp16.safetensors");
}

#ifdef OSOR_BINARY
namespace {
// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian), to check sizes without an image library.
std::pair<uint32_t, uint32_t> png_size(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), 24);
  auto be = [&](int o) { return uint32_t(b[o]) << 24 | uint32_t(b[o + 1]) << 16 | uint32_t(b[o + 2]) << 8 | b[o + 3]; };
  return {be(16), be(20)};
}
}  // namespace

TEST_CASE("osor remove --method sdxl-inpaint runs on a tiny weights layout and names missing weights") {
  const auto empty = osor::test::scratch_dir("sdxl_inpaint_cli_no_weights");
  const auto images = osor::test::sample_images();
  const std::string io = " --image " + (images / "p01_pred.png").string() + " --mask " +
                         (images / "p01_mask.png").string();
  const auto missing =
      osor::test::run_osor("remove --method sdxl-inpaint" + io + " --out " + (empty / "o.png").string() +
                           " --weights " + empty.string());
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("sdxl-inpainting/unet/config.json") != std::string::npos);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);

  const auto weights = write_tiny_layout("sdxl_inpaint_cli_weights");
  const auto work = osor::test::scratch_dir("sdxl_inpaint_cli");
  const std::string method = "remove --method sdxl-inpaint:steps=3,size=64" + io + " --weights " + weights.string();
  const auto r = osor::test::run_osor(method + " --out " + (work / "out.png").string() +
                                      " --device cpu --dtype fp32 --seed 4");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(png_size(work / "out.png") == png_size(images / "p01_pred.png"));  // back at the input size
  CHECK(r.err.find("sdxl-inpaint:size=64,steps=3") != std::string::npos);
  CHECK(r.err.find("unet=") != std::string::npos);

  // --noise replays the draws: the seed's draws written out in the pipeline's order give the same PNG bytes.
  auto gen = at::detail::createCPUGenerator(4);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor image_posterior = at::randn({1, 4, 8, 8}, gen, f32), latents = at::randn({1, 4, 8, 8}, gen, f32);
  osor::model::write_safetensors(work / "noise.safetensors",
                                 {{"image_posterior", image_posterior},
                                  {"latents", latents},
                                  {"masked_image_posterior", at::randn({1, 4, 8, 8}, gen, f32)}});
  const auto replay = osor::test::run_osor(method + " --out " + (work / "replay.png").string() + " --noise " +
                                           (work / "noise.safetensors").string());
  INFO(replay.err);
  REQUIRE(replay.exit_code == 0);
  auto bytes = [](const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  CHECK(bytes(work / "replay.png") == bytes(work / "out.png"));
}
#endif
