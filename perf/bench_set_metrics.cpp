// Set-level statistics: FID's float64 statistics and Fréchet distance at d = 2048 (full rank: both sqrt
// methods, two 2048² symmetric eigen-solutions; fewer samples than dimensions: the N×N low-rank route), and CMMD's MMD on 768-d embeddings (float32 kernels with
// double sums, and float64). Synthetic, correlated, non-negative features like pool3 activations.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <ATen/ATen.h>

#include "metrics/frechet_distance.h"
#include "metrics/mmd.h"
#include "model/log.h"

namespace {

at::Tensor pool3_like(int64_t n, int64_t d, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor mixing = at::randn({d, d}, at::kFloat) / std::sqrt(static_cast<double>(d));
  return at::relu(at::mm(at::randn({n, d}, at::kFloat), mixing) + 0.3);
}

at::Tensor unit_embeddings(int64_t n, int64_t d, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor e = at::randn({n, d}, at::kFloat) + 0.6;  // a common direction, as CLIP embeddings have
  return e / at::linalg_vector_norm(e, 2, at::IntArrayRef{-1}, true, c10::nullopt);
}

void BM_gaussian_statistics(benchmark::State& state) {
  osor::log::set_level(osor::log::Level::Quiet);
  const at::Tensor x = pool3_like(state.range(0), 2048, 1);
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::gaussian_statistics(x));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_frechet_distance_2048(benchmark::State& state) {
  osor::log::set_level(osor::log::Level::Quiet);
  const auto method = state.range(0) == 0 ? osor::metrics::SqrtmMethod::Sqrtm : osor::metrics::SqrtmMethod::Eigh;
  const auto a = osor::metrics::gaussian_statistics(pool3_like(3000, 2048, 2));
  const auto b = osor::metrics::gaussian_statistics(pool3_like(3000, 2048, 3));
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::frechet_distance(a, b, method));
  state.SetLabel(osor::metrics::to_string(method));
}

// The usual small-benchmark case: a few hundred images, 2048-d pool3, singular covariances (low-rank route).
void BM_frechet_distance_2048_few_samples(benchmark::State& state) {
  osor::log::set_level(osor::log::Level::Quiet);
  const auto a = osor::metrics::gaussian_statistics(pool3_like(state.range(0), 2048, 2));
  const auto b = osor::metrics::gaussian_statistics(pool3_like(state.range(0) + 200, 2048, 3));
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::frechet_distance(a, b));
}

void BM_mmd(benchmark::State& state) {
  at::set_num_threads(1);
  const int64_t n = state.range(0);
  const at::Tensor x = unit_embeddings(n, 768, 4), y = unit_embeddings(n, 768, 5);
  osor::metrics::MmdOptions options;
  if (state.range(1)) options.precision = osor::metrics::MmdPrecision::Float64;
  for (auto _ : state) benchmark::DoNotOptimize(osor::metrics::mmd(x, y, options));
  state.SetLabel(state.range(1) ? "float64" : "float32 kernels, double sums");
  state.SetItemsProcessed(state.iterations() * 2 * n);
}

}  // namespace

BENCHMARK(BM_gaussian_statistics)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_frechet_distance_2048)->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_frechet_distance_2048_few_samples)->Arg(300)->Arg(1000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_mmd)->Args({1000, 0})->Args({1000, 1})->Args({5000, 0})->Unit(benchmark::kMillisecond);
