// PSNR and SSIM throughput at 512² and 1024² RGB on one thread (compare with scikit-image's
// structural_similarity via scripts/bench_skimage_ssim.py on the same machine).
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <ATen/ATen.h>

#include "metrics/psnr.h"
#include "metrics/ssim.h"

namespace {

struct Images {
  at::Tensor pred, ref;
};

Images make_images(int64_t size) {
  at::manual_seed(0);
  const at::Tensor ref = at::randint(0, 256, {1, 3, size, size}, at::kByte);
  const at::Tensor noise = at::randint(-20, 21, {1, 3, size, size}, at::kShort);
  const at::Tensor pred = (ref.to(at::kShort) + noise).clamp(0, 255).to(at::kByte);
  return {pred.to(at::kFloat).div(255), ref.to(at::kFloat).div(255)};
}

void BM_ssim_gaussian(benchmark::State& state) {
  at::set_num_threads(1);
  const Images im = make_images(state.range(0));
  osor::metrics::SsimOptions options;
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::ssim(im.pred, im.ref, options));
  state.SetItemsProcessed(state.iterations());
}

void BM_ssim_uniform(benchmark::State& state) {
  at::set_num_threads(1);
  const Images im = make_images(state.range(0));
  osor::metrics::SsimOptions options;
  options.window = osor::metrics::SsimWindow::Uniform;
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::ssim(im.pred, im.ref, options));
  state.SetItemsProcessed(state.iterations());
}

void BM_psnr(benchmark::State& state) {
  at::set_num_threads(1);
  const Images im = make_images(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::psnr(im.pred, im.ref, {}));
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_ssim_gaussian)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ssim_uniform)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_psnr)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
