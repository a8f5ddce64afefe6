// CFD's cost per picture on the CPU, random weights: the whole metric in a tiny configuration (the cfd fixtures'
// sizes: SAM 32-dim/4 blocks at 256², DINOv2 32-dim/2 layers), and its stages at full size — SAM's prompt decoding
// (ViT-H decoder, one batch of 64 points and the postprocessing to the picture), the ViT-H image encoder at 1024²
// and DINOv2-giant at 224². The automatic mask generator asks 32×32 points per picture (16 decoder batches), the
// encoder runs once per picture, DINOv2 once per region image.
// Run: build-*/perf/osor_perf --benchmark_filter='Cfd|Sam|Dinov2'   (the full-size ones take seconds each)
#include <benchmark/benchmark.h>
#include <ATen/ATen.h>

#include "metrics/cfd.h"
#include "metrics/networks/bit_image_processor.h"
#include "metrics/networks/dinov2.h"
#include "metrics/networks/sam.h"
#include "metrics/networks/sam_mask_generator.h"

namespace {

using namespace osor::metrics;

const c10::Device kCpu(c10::kCPU);

SamConfig tiny_sam() {
  SamConfig c;
  c.encoder_embed_dim = 32, c.encoder_depth = 4, c.encoder_num_heads = 2, c.encoder_global_attn_indexes = {1, 3};
  c.prompt_embed_dim = 32, c.image_size = 256, c.decoder_mlp_dim = 64, c.decoder_num_heads = 2, c.iou_head_hidden_dim = 32;
  return c;
}

Dinov2Config tiny_dinov2() {
  Dinov2Config c;
  c.hidden_size = 32, c.num_hidden_layers = 2, c.num_attention_heads = 2, c.image_size = 518, c.use_swiglu_ffn = true;
  return c;
}

Dinov2Config giant_dinov2() {
  Dinov2Config c;
  c.hidden_size = 1536, c.num_hidden_layers = 40, c.num_attention_heads = 24, c.image_size = 518, c.use_swiglu_ffn = true;
  return c;
}

// A picture with smooth structure and an object mask of two blobs (two components).
std::pair<at::Tensor, at::Tensor> picture(int64_t size) {
  const at::Tensor y = at::linspace(0, 1, size).view({size, 1}), x = at::linspace(0, 1, size).view({1, size});
  const at::Tensor r = (at::sin(x * 9) * at::cos(y * 7) * 0.5 + 0.5), g = (x * y), b = (at::cos(x * 3 + y * 5) * 0.5 + 0.5);
  const at::Tensor image = at::stack({r, g, b}).mul(255).round().to(at::kByte);
  const at::Tensor mask = ((x - 0.35).pow(2) + (y - 0.4).pow(2)).lt(0.02).logical_or(((x - 0.7).pow(2) + (y - 0.7).pow(2)).lt(0.01));
  return {image, mask};
}

void BM_Cfd_tiny_picture(benchmark::State& state) {
  const int64_t size = state.range(0);
  const CfdMode mode = state.range(1) == 0 ? CfdMode::Official : CfdMode::Corrected;
  const Sam sam = Sam::random(tiny_sam(), kCpu);
  const Dinov2 dinov2 = Dinov2::random(tiny_dinov2(), kCpu);
  auto decoder = sam_prompt_decoder(sam);
  const CfdScorer scorer(dinov2, BitProcessorConfig{}, [&](const at::Tensor& p) { return generate_sam_masks(p, *decoder); }, mode);
  const auto [image, mask] = picture(size);
  for (auto _ : state) benchmark::DoNotOptimize(scorer.score(image, mask).score);
  state.counters["pictures/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(to_string(mode));
}
BENCHMARK(BM_Cfd_tiny_picture)->Args({256, 0})->Args({256, 1})->Args({512, 0})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SamAmg_tiny_generate(benchmark::State& state) {
  const Sam sam = Sam::random(tiny_sam(), kCpu);
  auto decoder = sam_prompt_decoder(sam);
  const auto [image, mask] = picture(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(generate_sam_masks(image, *decoder).size());
}
BENCHMARK(BM_SamAmg_tiny_generate)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SamVitH_decode_batch64(benchmark::State& state) {
  const Sam sam = Sam::random(SamConfig::vit_h(), kCpu);
  SamImage image;
  image.embeddings = at::randn({1, 256, 64, 64});
  image.original_size = {state.range(0), state.range(0)};
  image.input_size = {1024, 1024};
  const at::Tensor points = at::rand({64, 1, 2}).mul(1024).to(at::kDouble);
  const at::Tensor labels = at::ones({64, 1}, at::kLong);
  for (auto _ : state) {
    const SamPrediction p = sam.predict(image, points, labels, true);
    benchmark::DoNotOptimize(sam.postprocess_masks(p.low_res_logits, image.input_size, image.original_size).gt(0).sum().item<int64_t>());
  }
  state.counters["prompts/s"] = benchmark::Counter(static_cast<double>(state.iterations() * 64), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SamVitH_decode_batch64)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

void BM_SamVitH_encoder_1024(benchmark::State& state) {
  const Sam sam = Sam::random(SamConfig::vit_h(), kCpu);
  const at::Tensor x = at::randn({1, 3, 1024, 1024});
  for (auto _ : state) benchmark::DoNotOptimize(sam.image_embeddings(x));
}
BENCHMARK(BM_SamVitH_encoder_1024)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

void BM_Dinov2Giant_224(benchmark::State& state) {
  const Dinov2 net = Dinov2::random(giant_dinov2(), kCpu);
  const at::Tensor x = at::randn({state.range(0), 3, 224, 224});
  for (auto _ : state) benchmark::DoNotOptimize(net.last_hidden_state(x));
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Dinov2Giant_224)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
