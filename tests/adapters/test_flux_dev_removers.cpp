// The FLUX.1 [dev] baselines end to end through `osor remove` on tiny random weights laid out as the weights folder
// documents (flux-dev/{transformer,vae,scheduler}, omnipaint/, omnieraser/): deterministic per seed, output at the
// input size, the recorded-draw replay (--noise) equal to the seeded run (the draw order), the resize rules. No
// fixture of the official pipelines exists for these two methods (docs/models.md), so these are structural checks.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "adapters/omnipaint.h"
#include "model/flux/flux_transformer.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "model/nn/layers.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/cli/osor_command.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::pair<std::string, at::Tensor>> state_of(torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

at::Tensor randn(at::IntArrayRef shape, at::Generator& gen) {
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) * 0.1;
}

// model/configs/tiny/flux-dev networks with random weights, a random LoRA for each method (OmniPaint's on
// OminiControl's targets, OmniEraser's with its 4×-wide x_embedder) and the tiny .npz prompt fixture.
fs::path write_flux_dev_layout(const std::string& name) {
  const fs::path dir = osor::test::process_scratch_dir(name);
  const fs::path tiny = fs::path(OSOR_MODEL_CONFIGS_DIR) / "tiny" / "flux-dev";
  for (const char* part : {"transformer/config.json", "vae/config.json", "scheduler/scheduler_config.json"}) {
    fs::create_directories((dir / "flux-dev" / part).parent_path());
    fs::copy_file(tiny / part, dir / "flux-dev" / part, fs::copy_options::overwrite_existing);
  }
  osor::model::FluxTransformer2DModel tf(osor::model::FluxTransformerConfig::from_file(tiny / "transformer/config.json"));
  tf.randomize(1);
  osor::model::write_safetensors(dir / "flux-dev/transformer/diffusion_pytorch_model.safetensors", state_of(tf.module()));
  osor::model::AutoencoderKL vae(osor::model::VaeConfig::from_file(tiny / "vae/config.json"));
  vae.randomize(2);
  osor::model::write_safetensors(dir / "flux-dev/vae/diffusion_pytorch_model.safetensors", state_of(vae.module()));
  auto gen = at::detail::createCPUGenerator(3);
  std::vector<std::pair<std::string, at::Tensor>> paint, eraser;
  for (const auto& [path, l] : osor::model::nn::named_linears(tf.module())) {
    const bool target = path == "x_embedder" || path.find("attn.to_") != std::string::npos ||
                        path.find("norm1.linear") != std::string::npos || path.find("proj_mlp") != std::string::npos;
    if (!target) continue;
    paint.emplace_back("transformer." + path + ".lora_A.weight", randn({2, l->weight.size(1)}, gen));
    paint.emplace_back("transformer." + path + ".lora_B.weight", randn({l->weight.size(0), 2}, gen));
  }
  const int64_t d = tf.config().inner_dim(), in = tf.config().in_channels;
  eraser = {{"transformer.x_embedder.lora_A.weight", randn({2, 4 * in}, gen)},
            {"transformer.x_embedder.lora_B.weight", randn({d, 2}, gen)},
            {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight", randn({2, d}, gen)},
            {"transformer.transformer_blocks.0.attn.to_q.lora_B.weight", randn({d, 2}, gen)}};
  fs::create_directories(dir / "omnipaint");
  fs::create_directories(dir / "omnieraser");
  osor::model::write_safetensors(dir / "omnipaint/omnipaint_remove.safetensors", paint);
  osor::model::write_safetensors(dir / "omnieraser/pytorch_lora_weights.safetensors", eraser);
  const fs::path npz = osor::test::fixtures_dir() / "model" / "tiny_prompt.npz";
  fs::copy_file(npz, dir / "omnipaint/remove.npz", fs::copy_options::overwrite_existing);
  const auto prompt = osor::model::read_prompt_cache(npz);
  osor::model::write_safetensors(dir / "omnieraser/prompt_embeds.safetensors",
                                 {{"prompt_embeds", prompt.prompt_embeds},
                                  {"pooled_prompt_embeds", prompt.pooled_prompt_embeds.to(at::kFloat)}});
  return dir;
}

std::pair<uint32_t, uint32_t> png_size(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), 24);
  auto be = [&](int o) { return uint32_t(b[o]) << 24 | uint32_t(b[o + 1]) << 16 | uint32_t(b[o + 2]) << 8 | b[o + 3]; };
  return {be(16), be(20)};
}

std::string bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Runs `method` on the p01 sample twice with one seed and once with another, then replays `draws` (the seed's draws
// in the method's order) through --noise: same bytes, other bytes, same bytes; the output at the input size.
void check_remove(const std::string& method, const fs::path& weights, const fs::path& work,
                  const std::vector<std::pair<std::string, at::IntArrayRef>>& draws) {
  const auto images = osor::test::sample_images();
  const std::string cmd = "remove --method " + method + " --image " + (images / "p01_pred.png").string() +
                          " --mask " + (images / "p01_mask.png").string() + " --weights " + weights.string() +
                          " --device cpu --dtype fp32";
  for (const char* out : {"a.png", "b.png"}) {
    const auto r = osor::test::run_osor(cmd + " --seed 4 --out " + (work / out).string());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  CHECK(bytes(work / "a.png") == bytes(work / "b.png"));
  CHECK(png_size(work / "a.png") == png_size(images / "p01_pred.png"));
  REQUIRE(osor::test::run_osor(cmd + " --seed 5 --out " + (work / "c.png").string()).exit_code == 0);
  CHECK(bytes(work / "a.png") != bytes(work / "c.png"));
  auto gen = at::detail::createCPUGenerator(4);
  std::vector<std::pair<std::string, at::Tensor>> noise;
  for (const auto& [key, shape] : draws)
    noise.emplace_back(key, at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)));
  osor::model::write_safetensors(work / "noise.safetensors", noise);
  const auto replay = osor::test::run_osor(cmd + " --noise " + (work / "noise.safetensors").string() + " --out " +
                                           (work / "replay.png").string());
  INFO(replay.err);
  REQUIRE(replay.exit_code == 0);
  CHECK(bytes(work / "replay.png") == bytes(work / "a.png"));
}

}  // namespace

TEST_CASE("omnipaint: the script's sizes (long side 1024 by int(), then ×16 floors) and Pillow's composite") {
  // OmniPaint's demo: 1200×800 images, masks at 1024×682 (the capped size).
  const auto s = osor::adapters::omnipaint_sizes(800, 1200, 1024);
  CHECK(s.height == 682);
  CHECK(s.width == 1024);
  CHECK(s.condition_height == 672);
  CHECK(s.condition_width == 1024);
  const auto small = osor::adapters::omnipaint_sizes(500, 300, 1024);
  CHECK(small.height == 500);
  CHECK(small.condition_height == 496);
  CHECK(small.condition_width == 288);
  const at::Tensor image = at::full({1, 3, 1, 4}, 200, at::kByte);
  const at::Tensor mask = at::tensor({255, 0, 128, 1}, at::kByte).reshape({1, 1, 1, 4});
  // DIV255(200·(255 − m)): 0, 200, round(25400/255) = 100, round(50800/255) = 199.
  CHECK(at::equal(osor::adapters::omnipaint_composite(image, mask)[0][0][0],
                  at::tensor({0, 200, 100, 199}, at::kByte)));
}

#ifdef OSOR_BINARY
TEST_CASE("osor remove --method omnipaint on tiny FLUX.1 [dev] weights: deterministic, input size, --noise replay") {
  const fs::path weights = write_flux_dev_layout("flux_dev_layout_omnipaint");
  const fs::path work = osor::test::scratch_dir("omnipaint_cli");
  // long_side 48: the 256² sample is processed at 48² (latent 6×6), draws latents then condition_posterior.
  check_remove("omnipaint:long_side=48,steps=2", weights, work,
               {{"latents", {1, 16, 6, 6}}, {"condition_posterior", {1, 16, 6, 6}}});
  // long_side 40: capped to 40², the condition floored to 32² — so the draws must be 4×4 latents.
  const auto images = osor::test::sample_images();
  const auto r = osor::test::run_osor("remove --method omnipaint:long_side=40,steps=1 --image " +
                                      (images / "p01_pred.png").string() + " --mask " +
                                      (images / "p01_mask.png").string() + " --weights " + weights.string() +
                                      " --noise " + (work / "noise.safetensors").string() + " --out " +
                                      (work / "d.png").string());
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("must be [1,16,4,4]") != std::string::npos);
}

TEST_CASE("osor remove --method omnieraser on tiny FLUX.1 [dev] weights: deterministic, input size, --noise replay") {
  const fs::path weights = write_flux_dev_layout("flux_dev_layout_omnieraser");
  const fs::path work = osor::test::scratch_dir("omnieraser_cli");
  check_remove("omnieraser:size=32,steps=2", weights, work,
               {{"foreground_posterior", {1, 16, 4, 4}}, {"masked_image_posterior", {1, 16, 4, 4}},
                {"latents", {1, 16, 4, 4}}});
}

TEST_CASE("osor remove: omnipaint and omnieraser name their missing weights in one line") {
  const fs::path empty = osor::test::scratch_dir("flux_dev_no_weights");
  const auto images = osor::test::sample_images();
  for (const char* method : {"omnipaint", "omnieraser"}) {
    const auto r = osor::test::run_osor(std::string("remove --method ") + method + " --image " +
                                        (images / "p01_pred.png").string() + " --mask " +
                                        (images / "p01_mask.png").string() + " --weights " + empty.string() +
                                        " --out " + (empty / "o.png").string());
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("flux-dev/transformer/config.json") != std::string::npos);
    CHECK(r.err.find(std::string(method) == "omnipaint" ? "omnipaint/remove.npz" : "encode_flux_prompt.py") !=
          std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}
#endif
