// The config-only weights layouts under model/configs (used by `--random-weights`): full/ must be the real
// SDXL-Inpainting architecture (its parameter counts equal the reference), tiny/ the conformance fixture's
// architecture; and OsorSdxl::random runs end to end from them. Where a GPU is present, the one-step model on CUDA
// equals the CPU with the same random weights. The execution options (channels-last UNet, CUDA graphs) give the
// default's result.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "model/cuda_graph.h"
#include "model/error.h"
#include "model/osor/one_step.h"
#include "model/schedulers/flow_match_euler.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/test_paths.h"

namespace {

std::filesystem::path configs(const std::string& name) {
  return std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / name / "sdxl-inpainting";
}

// Copies every parameter of `from` into the same-named parameter of `to` (any device or dtype).
void copy_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  at::NoGradGuard no_grad;
  auto target = to.named_parameters();
  for (const auto& p : from.named_parameters()) target[p.key()].copy_(p.value());
}

}  // namespace

TEST_CASE("model configs: full/ builds the reference SDXL-Inpainting parameter counts (meta device)") {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kFloat);
  const auto unet_config = osor::model::UNetConfig::from_file(configs("full") / "unet" / "config.json");
  CHECK(osor::model::UNet2DConditionModel(unet_config, meta).parameter_count() == 2567478084LL);
  const auto vae_config = osor::model::VaeConfig::from_file(configs("full") / "vae" / "config.json");
  CHECK(osor::model::AutoencoderKL(vae_config, meta).parameter_count() == 83653863);
  CHECK(vae_config.scaling_factor == doctest::Approx(0.13025));
}

TEST_CASE("model configs: OsorSdxl::random runs the tiny architecture, a missing config is named") {
  const auto model = osor::model::OsorSdxl::random(configs("tiny").parent_path(), at::kCPU, at::kFloat, 3);
  CHECK(model.has_alpha_head());
  at::manual_seed(0);
  const at::Tensor image = at::rand({1, 3, 32, 48});
  const at::Tensor mask = at::zeros({1, 1, 32, 48});
  mask.slice(2, 8, 24).slice(3, 12, 36).fill_(1);
  const auto r = model.run(image, mask, std::nullopt, 5);
  CHECK((r.image.sizes() == at::IntArrayRef({1, 3, 32, 48})));
  CHECK(r.image.min().item<float>() >= 0.0f);
  CHECK(r.image.max().item<float>() <= 1.0f);
  for (const char* stage : {"vae_encode", "unet", "vae_decode"}) {
    CHECK(r.stages_ms.count(stage) == 1);
    CHECK(r.stage_calls.at(stage) == 1);
  }
  CHECK_THROWS_WITH_AS(osor::model::OsorSdxl::random("/nonexistent", at::kCPU, at::kFloat),
                       doctest::Contains("/nonexistent/sdxl-inpainting/unet/config.json"), osor::ModelError);
}

TEST_CASE("osor one-step on CUDA equals the CPU with the same random tiny weights (skipped without a GPU)") {
  if (!at::hasCUDA()) {
    MESSAGE("SKIPPED: no CUDA device; the one-step model was not run on CUDA");
    return;
  }
  const auto dir = configs("tiny").parent_path();
  auto cpu = osor::model::OsorSdxl::random(dir, at::kCPU, at::kFloat, 3);
  auto cuda = osor::model::OsorSdxl::random(dir, at::Device("cuda"), at::kFloat, 3);
  copy_parameters(cpu.unet().module(), cuda.unet().module());  // CUDA draws its own random values
  copy_parameters(cpu.vae().module(), cuda.vae().module());
  at::manual_seed(0);
  const at::Tensor image = at::rand({1, 3, 64, 64});
  const at::Tensor mask = at::zeros({1, 1, 64, 64});
  mask.slice(2, 16, 48).slice(3, 16, 48).fill_(1);
  const auto a = cpu.run(image, mask, std::nullopt, 11), b = cuda.run(image, mask, std::nullopt, 11);
  const double d_image = (a.image - b.image).abs().max().item<double>();
  const double d_alpha = (a.alpha - b.alpha).abs().max().item<double>();
  // cuDNN may use TF32 for float32 convolutions (LibTorch's default), ~1e-3 relative per layer.
  MESSAGE("osor one-step CUDA vs CPU (fp32): max |image diff| " << d_image << ", max |alpha diff| " << d_alpha
                                                                << " (allowed 5e-3)");
  CHECK(d_image <= 5e-3);
  CHECK(d_alpha <= 5e-3);
}

TEST_CASE("osor one-step with a channels-last UNet equals the NCHW run (tiny, CPU)") {
  const auto dir = configs("tiny").parent_path();
  auto nchw = osor::model::OsorSdxl::random(dir, at::kCPU, at::kFloat, 3);
  auto nhwc = osor::model::OsorSdxl::random(dir, at::kCPU, at::kFloat, 3);
  osor::model::OneStepExecution execution;
  execution.unet_channels_last = true;
  nhwc.set_execution(execution);
  CHECK(nhwc.unet().memory_format() == at::MemoryFormat::ChannelsLast);
  int64_t convs = 0, nhwc_convs = 0;
  for (const auto& p : nhwc.unet().module().named_parameters()) {
    if (p.value().dim() != 4) continue;
    ++convs;
    nhwc_convs += p.value().is_contiguous(at::MemoryFormat::ChannelsLast);
  }
  CHECK(convs > 0);
  CHECK(nhwc_convs == convs);
  CHECK(!nhwc.unet().module().named_parameters()["conv_in.weight"].is_contiguous());  // 3×3: NHWC differs
  at::manual_seed(1);
  const at::Tensor image = at::rand({1, 3, 48, 64});
  const at::Tensor mask = at::zeros({1, 1, 48, 64});
  mask.slice(2, 8, 40).slice(3, 16, 48).fill_(1);
  const auto a = nchw.run(image, mask, std::nullopt, 4), b = nhwc.run(image, mask, std::nullopt, 4);
  CHECK(b.trace.at("eps").is_contiguous());  // returned NCHW
  const double d_eps = (a.trace.at("eps") - b.trace.at("eps")).abs().max().item<double>();
  const double d_image = (a.image - b.image).abs().max().item<double>();
  MESSAGE("channels-last vs NCHW UNet (fp32, CPU): max |eps diff| " << d_eps << ", max |image diff| " << d_image);
  CHECK(d_eps <= 1e-4);
  CHECK(d_image <= 1e-4);
  execution.unet_channels_last = false;
  nhwc.set_execution(execution);
  CHECK(nhwc.unet().memory_format() == at::MemoryFormat::Contiguous);
  CHECK(nhwc.unet().module().named_parameters()["conv_in.weight"].is_contiguous());
  execution.cuda_graphs = true;
  CHECK_THROWS_WITH_AS(nhwc.set_execution(execution), doctest::Contains("CUDA graphs need a CUDA device"),
                       osor::ModelError);
}

TEST_CASE("osor one-step with CUDA graphs equals the eager run on CUDA, input by input (skipped without a GPU)") {
  if (!at::hasCUDA() || !osor::model::cuda_graphs_available()) {
    MESSAGE("SKIPPED: no CUDA device or no CUDA graphs in this build; CUDA graphs were not run");
    return;
  }
  const auto dir = configs("tiny").parent_path();
  const at::Device cuda("cuda");
  auto eager = osor::model::OsorSdxl::random(dir, cuda, at::kFloat, 3);
  auto graphed = osor::model::OsorSdxl::random(dir, cuda, at::kFloat, 3);
  copy_parameters(eager.unet().module(), graphed.unet().module());
  copy_parameters(eager.vae().module(), graphed.vae().module());
  for (const bool channels_last : {false, true}) {
    osor::model::OneStepExecution execution;
    execution.cuda_graphs = true;
    execution.unet_channels_last = channels_last;
    graphed.set_execution(execution);
    // Three calls: the first records, the next ones replay with new images, masks and noise; a new size records
    // again.
    for (const auto& [seed, size] : std::vector<std::pair<uint64_t, int64_t>>{{1, 64}, {2, 64}, {3, 64}, {4, 48}}) {
      at::manual_seed(static_cast<int64_t>(seed));
      const at::Tensor image = at::rand({1, 3, size, size});
      const at::Tensor mask = (at::rand({1, 1, size, size}) > 0.6).to(at::kFloat);
      const auto a = eager.run(image, mask, std::nullopt, seed), b = graphed.run(image, mask, std::nullopt, seed);
      const double d_image = (a.image - b.image).abs().max().item<double>();
      const double d_alpha = (a.alpha - b.alpha).abs().max().item<double>();
      MESSAGE("CUDA graphs (channels_last " << channels_last << ", seed " << seed << ", " << size
                                            << "²) vs eager: max |image diff| " << d_image << ", |alpha diff| "
                                            << d_alpha);
      CHECK(d_image <= 5e-3);  // TF32 and other algorithms may be picked per layout, as CUDA vs CPU
      CHECK(d_alpha <= 5e-3);
      CHECK(b.trace.empty());
      CHECK(b.stage_calls.at("unet") == 1);
    }
  }
}

TEST_CASE("model configs: full/flux-fill builds the FLUX VAE with 83,819,683 parameters and the dynamic-shift scheduler (meta device)") {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kBFloat16);
  const auto dir = std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "full" / "flux-fill";
  const auto vae_config = osor::model::VaeConfig::from_file(dir / "vae" / "config.json");
  CHECK(osor::model::AutoencoderKL(vae_config, meta).parameter_count() == 83819683);
  CHECK(vae_config.latent_channels == 16);
  CHECK(vae_config.scaling_factor == doctest::Approx(0.3611));
  CHECK(vae_config.shift_factor.value_or(0.0) == doctest::Approx(0.1159));
  const auto scheduler = osor::model::FlowMatchEulerConfig::from_file(dir / "scheduler" / "scheduler_config.json");
  CHECK(scheduler.use_dynamic_shifting);
  CHECK(scheduler.max_shift == doctest::Approx(1.15));
}
