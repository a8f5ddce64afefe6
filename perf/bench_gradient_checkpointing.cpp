// Memory and time of one training forward + backward of the tiny SDXL-inpainting UNet (model/configs/tiny, random
// weights, float32 on the CPU) with fresh trainable LoRA adapters on OSOR's targets, with gradient checkpointing off
// (arg 0) and on (arg 1), at latent sizes where activations dominate. Memory: the increase of the process's peak
// RSS over the RSS before the step (harness/latency/peak_memory.h: the peak is reset before each step; where the
// kernel refuses the reset the counter is -1). Measured on the 2-core development VM (LibTorch 1.13, build-1.13):
// 64² latents 455 → 71 MiB at +48% time, 128² 8.5 GiB → 1.0 GiB (there also faster: fewer fresh pages to fault in).
// Run: build-*/perf/osor_perf --benchmark_filter=GradientCheckpointing   (about 4 minutes, 9 GiB of memory)
#include <benchmark/benchmark.h>
#include <ATen/ATen.h>

#include <filesystem>

#include "harness/latency/peak_memory.h"
#include "model/train/trainable_lora.h"
#include "model/unet/unet_2d_condition.h"

namespace {

using osor::model::UNet2DConditionModel;

UNet2DConditionModel trainable_tiny_unet() {
  const auto dir = std::filesystem::path(OSOR_PERF_MODEL_CONFIGS_DIR) / "tiny" / "sdxl-inpainting" / "unet";
  UNet2DConditionModel unet(osor::model::UNetConfig::from_file(dir / "config.json"));
  unet.randomize(1);
  osor::model::train::attach_fresh_lora(unet.module(), osor::model::train::sdxl_lora_targets(), {4, 4.0, 2});
  osor::model::train::make_trainable(unet.module(), "unet.", "conv_out");
  return unet;
}

void BM_GradientCheckpointing_TinyUNet_step(benchmark::State& state) {
  const bool checkpointing = state.range(0) != 0;
  const int64_t size = state.range(1);
  UNet2DConditionModel unet = trainable_tiny_unet();
  unet.set_gradient_checkpointing(checkpointing);
  const at::Tensor sample = at::randn({1, 9, size, size});
  const at::Tensor timestep = at::full({1}, 600.0), context = at::randn({1, 77, 24}), pooled = at::randn({1, 20});
  const at::Tensor time_ids = at::tensor({1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0}).reshape({1, 6});
  double peak_mib = 0.0;
  for (auto _ : state) {
    const bool reset = osor::harness::reset_host_peak();
    const int64_t before = osor::harness::host_rss_bytes();
    unet.forward(sample, timestep, context, pooled, time_ids).pow(2).mean().backward();
    const auto peak = osor::harness::read_host_peak(reset);
    peak_mib = reset && peak.bytes >= 0 && before >= 0 ? static_cast<double>(peak.bytes - before) / (1 << 20) : -1.0;
  }
  state.counters["peak_rss_increase_MiB"] = peak_mib;
}
BENCHMARK(BM_GradientCheckpointing_TinyUNet_step)
    ->ArgsProduct({{0, 1}, {64, 128}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

}  // namespace
