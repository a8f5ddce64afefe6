// OminiControl's condition tokens on the FLUX transformer (OmniPaint's conditioning, model/flux/flux_transformer.h
// FluxConditionTokens) on the tiny FLUX.1 [dev] config: two equivalences that pin the token routing and the LoRA
// gating, and the widened x_embedder OmniEraser uses.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "model/error.h"
#include "model/flux/flux_packing.h"
#include "model/flux/flux_transformer.h"
#include "model/nn/layers.h"
#include "tests/test_paths.h"

using osor::model::FluxConditionTokens;
using osor::model::FluxTransformer2DModel;
using osor::model::FluxTransformerConfig;
using osor::model::FluxTransformerInputs;

namespace {

FluxTransformerConfig tiny_dev() {
  return FluxTransformerConfig::from_file(std::filesystem::path(OSOR_MODEL_CONFIGS_DIR) / "tiny" / "flux-dev" /
                                          "transformer" / "config.json");
}

at::Tensor randn(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

// Text of 5 tokens, an image grid of 2×3 packed tokens, σ = 0.5, guidance 3.5.
FluxTransformerInputs inputs(const FluxTransformerConfig& c) {
  FluxTransformerInputs in;
  in.hidden_states = randn({1, 6, c.in_channels}, 1);
  in.encoder_hidden_states = randn({1, 5, c.joint_attention_dim}, 2);
  in.pooled_projections = randn({1, c.pooled_projection_dim}, 3);
  in.timestep = at::full({1}, 0.5);
  in.guidance = at::full({1}, 3.5);
  in.img_ids = osor::model::flux::latent_image_ids(2, 3);
  in.txt_ids = osor::model::flux::text_ids(5);
  return in;
}

void attach_random(osor::model::nn::Linear& l, uint64_t seed, bool merge) {
  l.attach_lora({randn({2, l.weight.size(1)}, seed) * 0.3, randn({l.weight.size(0), 2}, seed + 1) * 0.3, 1.0}, merge);
}

}  // namespace

TEST_CASE("flux condition tokens: with the main timestep and no adapters they equal extra image tokens") {
  // OminiControl routes the condition through the image stream's layers; at c_t = t the only difference to
  // appending the tokens to the image sequence is where they sit in the attention, which attention ignores.
  const FluxTransformerConfig c = tiny_dev();
  FluxTransformer2DModel tf(c);
  tf.randomize(7);
  FluxTransformerInputs in = inputs(c);
  FluxConditionTokens cond;
  cond.hidden_states = randn({1, 4, c.in_channels}, 4);
  cond.ids = osor::model::flux::latent_image_ids(2, 2) + 1.0;  // own positions, offset as a position_delta would
  cond.timestep = 0.5;
  const at::Tensor conditioned = tf.forward(in, cond);
  FluxTransformerInputs joint = in;
  joint.hidden_states = at::cat({in.hidden_states, cond.hidden_states}, 1);
  joint.img_ids = at::cat({in.img_ids, cond.ids}, 0);
  const at::Tensor plain = tf.forward(joint).narrow(1, 0, 6);
  REQUIRE((conditioned.sizes() == plain.sizes()));
  CHECK(at::allclose(conditioned, plain, 1e-5, 1e-5));
  // ... and the condition's own timestep (0, OmniPaint's) changes the result.
  cond.timestep = 0.0;
  CHECK(!at::allclose(tf.forward(in, cond), plain, 1e-3, 1e-3));
}

TEST_CASE("flux condition tokens: runtime adapters skip the image and text tokens on OminiControl's gated layers") {
  // Without condition tokens, the conditioned forward must equal the plain forward of the same weights with only
  // the ungated adapters (here attn.add_q_proj and ff.net.0.proj, which OminiControl leaves on) merged.
  const FluxTransformerConfig c = tiny_dev();
  FluxTransformer2DModel gated(c), reference(c);
  gated.randomize(11);
  reference.randomize(11);
  uint64_t seed = 100;
  const std::vector<std::string> ungated = {"transformer_blocks.0.attn.add_q_proj", "transformer_blocks.1.ff.net.0.proj"};
  auto linears = osor::model::nn::named_linears(gated.module());
  auto ref_linears = osor::model::nn::named_linears(reference.module());
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // OminiControl's enable_lora sites: off for the image/text tokens.
  auto gated_layer = [&](const std::string& p) {
    if (p == "x_embedder") return true;
    if (p.rfind("single_transformer_blocks.", 0) == 0)
      return ends_with(p, ".norm.linear") || ends_with(p, ".proj_mlp") || ends_with(p, ".proj_out") ||
             ends_with(p, ".attn.to_q") || ends_with(p, ".attn.to_k") || ends_with(p, ".attn.to_v");
    return ends_with(p, ".norm1.linear") || ends_with(p, ".attn.to_q") || ends_with(p, ".attn.to_k") ||
           ends_with(p, ".attn.to_v") || ends_with(p, ".attn.to_out.0") || ends_with(p, ".ff.net.2");
  };
  int gated_count = 0;
  for (size_t i = 0; i < linears.size(); ++i) {
    const std::string& path = linears[i].first;
    REQUIRE(path == ref_linears[i].first);
    const bool keep = std::find(ungated.begin(), ungated.end(), path) != ungated.end();
    if (!keep && !gated_layer(path)) continue;
    attach_random(*linears[i].second, seed, /*merge=*/false);
    if (keep) attach_random(*ref_linears[i].second, seed, /*merge=*/true);
    gated_count += keep ? 0 : 1;
    seed += 2;
  }
  CHECK(gated_count == 1 + 2 * 6 + 2 * 6);  // x_embedder, 6 per double block, 6 per single block
  const FluxTransformerInputs in = inputs(c);
  FluxConditionTokens none;
  none.hidden_states = at::zeros({1, 0, c.in_channels});
  none.ids = at::zeros({0, 3});
  const at::Tensor expected = reference.forward(in);
  CHECK(at::allclose(gated.forward(in, none), expected, 1e-5, 1e-5));
  // The plain forward applies every adapter, so it differs (the gated ones are real).
  CHECK(!at::allclose(gated.forward(in), expected, 1e-3, 1e-3));
}

TEST_CASE("flux: widen_x_embedder keeps the old columns and zeroes the new ones (OmniEraser)") {
  const FluxTransformerConfig c = tiny_dev();
  FluxTransformer2DModel tf(c);
  tf.randomize(3);
  FluxTransformerInputs in = inputs(c);
  const at::Tensor before = tf.forward(in);
  tf.widen_x_embedder(4 * c.in_channels);
  CHECK(tf.config().in_channels == 4 * c.in_channels);
  in.hidden_states = at::cat({in.hidden_states, randn({1, 6, 3 * c.in_channels}, 9)}, 2);
  CHECK(at::allclose(tf.forward(in), before, 1e-6, 1e-6));  // zero columns: the extra features do not count
  CHECK_THROWS_WITH_AS(tf.widen_x_embedder(8), doctest::Contains("cannot widen x_embedder from 256 to 8"),
                       osor::ModelError);
}
