// Throughput of the metric feature networks on the CPU at their reference input sizes, random weights of
// the real architectures: FID Inception at 299², LPIPS alex/vgg on 256² pairs, CLIP ViT-L/14@336 (CMMD), and
// the PIL bicubic resize that precedes CLIP. Reports images/s (pairs/s for LPIPS) and the FLOPs per image.
// Run: build-*/perf/osor_perf --benchmark_filter='Inception|Lpips|Clip|Pil'
#include <benchmark/benchmark.h>
#include <ATen/ATen.h>

#include "metrics/networks/clip_vision.h"
#include "metrics/networks/inception_fid.h"
#include "metrics/networks/lpips_net.h"
#include "metrics/resize.h"

namespace {

using osor::metrics::ClipVision;
using osor::metrics::ClipVisionConfig;
using osor::metrics::InceptionFid;
using osor::metrics::LpipsNet;
using osor::metrics::LpipsTrunk;

const c10::Device kCpu(c10::kCPU);

void set_rate(benchmark::State& state, int64_t batch, double flops_per_item) {
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
  state.counters["GFLOP/image"] = flops_per_item / 1e9;
}

void BM_InceptionFid_pool3_299(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const InceptionFid net = InceptionFid::random(kCpu);
  at::manual_seed(0);
  const at::Tensor x = at::rand({batch, 3, 299, 299}).mul(2).sub(1);
  for (auto _ : state) benchmark::DoNotOptimize(net.pool3(x));
  set_rate(state, batch, InceptionFid::flops_per_image());
}
BENCHMARK(BM_InceptionFid_pool3_299)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Lpips_256(benchmark::State& state) {
  const auto trunk = state.range(0) == 0 ? LpipsTrunk::Alex : LpipsTrunk::Vgg;
  const int64_t batch = state.range(1);
  const LpipsNet net = LpipsNet::random(trunk, kCpu);
  at::manual_seed(0);
  const at::Tensor a = at::rand({batch, 3, 256, 256}), b = at::rand({batch, 3, 256, 256});
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(a, b));
  set_rate(state, batch, LpipsNet::flops_per_pair(trunk, 256, 256));
  state.SetLabel(osor::metrics::to_string(trunk));
}
BENCHMARK(BM_Lpips_256)->Args({0, 1})->Args({0, 8})->Args({1, 1})->Args({1, 4})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ClipVitL14_336(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const ClipVision net = ClipVision::random(ClipVisionConfig{}, kCpu);  // defaults are ViT-L/14@336
  at::manual_seed(0);
  const at::Tensor x = at::randn({batch, 3, 336, 336});
  for (auto _ : state) benchmark::DoNotOptimize(net.image_embeds(x));
  set_rate(state, batch, net.flops_per_image());
}
BENCHMARK(BM_ClipVitL14_336)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_PilBicubic_u8_512_to_336(benchmark::State& state) {
  at::manual_seed(0);
  const at::Tensor img = at::randint(0, 256, {1, 3, 512, 683}, at::kByte);
  for (auto _ : state)
    benchmark::DoNotOptimize(osor::metrics::pil_resize_u8(img, 336, 448, osor::metrics::PilFilter::Bicubic));
  set_rate(state, 1, 0);
}
BENCHMARK(BM_PilBicubic_u8_512_to_336)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
