// FluxTransformer2DModel::load on the original BFL single-file layout (model/flux/bfl_key_names.h): diffusers-named
// weights are converted to BFL's names here, with the forward mapping written independently of the loader (fused
// q,k,v[,mlp] by concatenation along dim 0, final adaLN halves swapped), written to a scratch file and loaded back.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <map>
#include <set>

#include "model/error.h"
#include "model/flux/bfl_key_names.h"
#include "model/flux/flux_transformer.h"
#include "model/io/safetensors.h"
#include "tests/model/test_flux_fixture.h"
#include "tests/test_paths.h"

namespace {

using osor::model::FluxTransformer2DModel;
using osor::model::FluxTransformerConfig;
using Named = std::vector<std::pair<std::string, at::Tensor>>;

// diffusers → BFL (the direction of diffusers' convert_flux_to_diffusers.py, reversed), for `layers` double and
// `singles` single blocks; every diffusers tensor must be used exactly once.
class ToBfl {
 public:
  explicit ToBfl(const std::map<std::string, at::Tensor>& d) : d_(d) {}

  Named convert(int64_t layers, int64_t singles) {
    linear("img_in", "x_embedder");
    linear("txt_in", "context_embedder");
    linear("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
    linear("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
    linear("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
    linear("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
    if (d_.count("time_text_embed.guidance_embedder.linear_1.weight")) {
      linear("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
      linear("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
    }
    for (int64_t i = 0; i < layers; ++i) double_block(i);
    for (int64_t i = 0; i < singles; ++i) single_block(i);
    linear("final_layer.linear", "proj_out");
    for (const char* leaf : {".weight", ".bias"}) {  // diffusers (scale, shift) → BFL (shift, scale)
      const at::Tensor t = take(std::string("norm_out.linear") + leaf);
      const int64_t half = t.size(0) / 2;
      out_.emplace_back(std::string("final_layer.adaLN_modulation.1") + leaf,
                        at::cat({t.narrow(0, half, half), t.narrow(0, 0, half)}, 0));
    }
    CHECK(used_.size() == d_.size());
    return out_;
  }

 private:
  at::Tensor take(const std::string& name) {
    const auto it = d_.find(name);
    REQUIRE_MESSAGE(it != d_.end(), "no diffusers tensor " << name);
    CHECK(used_.insert(name).second);
    return it->second;
  }
  void linear(const std::string& bfl, const std::string& diffusers) {
    for (const char* leaf : {".weight", ".bias"}) out_.emplace_back(bfl + leaf, take(diffusers + leaf));
  }
  void fused(const std::string& bfl, const std::vector<std::string>& parts) {
    for (const char* leaf : {".weight", ".bias"}) {
      std::vector<at::Tensor> pieces;
      for (const auto& p : parts) pieces.push_back(take(p + leaf));
      out_.emplace_back(bfl + leaf, at::cat(pieces, 0));
    }
  }
  void scale(const std::string& bfl, const std::string& diffusers) {
    out_.emplace_back(bfl + ".scale", take(diffusers + ".weight"));
  }
  void double_block(int64_t i) {
    const std::string n = std::to_string(i), b = "double_blocks." + n + ".", d = "transformer_blocks." + n + ".";
    linear(b + "img_mod.lin", d + "norm1.linear");
    linear(b + "txt_mod.lin", d + "norm1_context.linear");
    fused(b + "img_attn.qkv", {d + "attn.to_q", d + "attn.to_k", d + "attn.to_v"});
    fused(b + "txt_attn.qkv", {d + "attn.add_q_proj", d + "attn.add_k_proj", d + "attn.add_v_proj"});
    scale(b + "img_attn.norm.query_norm", d + "attn.norm_q");
    scale(b + "img_attn.norm.key_norm", d + "attn.norm_k");
    scale(b + "txt_attn.norm.query_norm", d + "attn.norm_added_q");
    scale(b + "txt_attn.norm.key_norm", d + "attn.norm_added_k");
    linear(b + "img_attn.proj", d + "attn.to_out.0");
    linear(b + "txt_attn.proj", d + "attn.to_add_out");
    linear(b + "img_mlp.0", d + "ff.net.0.proj");
    linear(b + "img_mlp.2", d + "ff.net.2");
    linear(b + "txt_mlp.0", d + "ff_context.net.0.proj");
    linear(b + "txt_mlp.2", d + "ff_context.net.2");
  }
  void single_block(int64_t i) {
    const std::string n = std::to_string(i), b = "single_blocks." + n + ".", d = "single_transformer_blocks." + n + ".";
    linear(b + "modulation.lin", d + "norm.linear");
    fused(b + "linear1", {d + "attn.to_q", d + "attn.to_k", d + "attn.to_v", d + "proj_mlp"});
    linear(b + "linear2", d + "proj_out");
    scale(b + "norm.query_norm", d + "attn.norm_q");
    scale(b + "norm.key_norm", d + "attn.norm_k");
  }

  const std::map<std::string, at::Tensor>& d_;
  std::set<std::string> used_;
  Named out_;
};

std::map<std::string, at::Tensor> module_tensors(FluxTransformer2DModel& tf) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : tf.module().named_parameters(true)) out.emplace(item.key(), item.value().detach().clone());
  return out;
}

// Every parameter of `a` bit-identical to `b`'s.
void check_same_parameters(FluxTransformer2DModel& a, FluxTransformer2DModel& b) {
  const auto pa = module_tensors(a), pb = module_tensors(b);
  REQUIRE(pa.size() == pb.size());
  size_t equal = 0;
  for (const auto& [name, t] : pa) equal += at::equal(t, pb.at(name)) ? 1 : 0;
  CHECK(equal == pa.size());
}

FluxTransformerConfig tiny_config() {
  return FluxTransformerConfig::from_json(
      R"({"attention_head_dim": 8, "axes_dims_rope": [2, 2, 4], "num_attention_heads": 2, "num_layers": 2,
          "num_single_layers": 2, "in_channels": 16, "out_channels": 4, "joint_attention_dim": 8,
          "pooled_projection_dim": 4, "guidance_embeds": true})",
      "tiny");
}

}  // namespace

TEST_CASE("conformance: model/flux_fill BFL single-file key names load to the same transformer") {
  const auto fx = osor::test::open_model_fixture("flux_fill");
  if (!fx) return;
  const auto config = FluxTransformerConfig::from_json(fx->json.at("config").dump(), fx->name + ".json:config");
  const auto weights = osor::model::SafetensorsFile::open(fx->file(".weights.safetensors"));
  std::map<std::string, at::Tensor> diffusers;
  for (const auto& name : weights.names()) diffusers.emplace(name, weights.tensor(name));
  const Named bfl = ToBfl(diffusers).convert(config.num_layers, config.num_single_layers);
  const auto path = osor::test::process_scratch_dir("flux_fill_bfl") / "flux1-fill-dev.safetensors";
  osor::model::write_safetensors(path, bfl);

  FluxTransformer2DModel reference(config), from_bfl(config);
  reference.load({fx->file(".weights.safetensors")});
  from_bfl.load({path});
  check_same_parameters(reference, from_bfl);
  const auto in = osor::test::flux_fixture_inputs(*fx);
  CHECK(osor::test::max_abs_diff(reference.forward(in), from_bfl.forward(in)) == 0.0);
}

TEST_CASE("flux: BFL single-file names round-trip a random transformer, an unknown or misshapen BFL key is an error naming it") {
  const auto config = tiny_config();
  FluxTransformer2DModel source(config);
  source.randomize(7);
  const auto diffusers = module_tensors(source);
  Named bfl = ToBfl(diffusers).convert(config.num_layers, config.num_single_layers);
  const auto dir = osor::test::process_scratch_dir("flux_bfl_names");
  osor::model::write_safetensors(dir / "ok.safetensors", bfl);
  FluxTransformer2DModel loaded(config);
  loaded.load({dir / "ok.safetensors"});
  check_same_parameters(source, loaded);

  const std::string bogus = "double_blocks.1.img_attn.bogus.weight";
  Named with_unknown = bfl;
  with_unknown.emplace_back(bogus, at::zeros({2}));
  const auto unknown_path = dir / "unknown.safetensors";
  osor::model::write_safetensors(unknown_path, with_unknown);
  FluxTransformer2DModel target(config);
  CHECK_THROWS_WITH_AS(target.load({unknown_path}), doctest::Contains(bogus.c_str()), osor::ModelError);
  CHECK_THROWS_WITH_AS(target.load({unknown_path}), doctest::Contains(unknown_path.string().c_str()), osor::ModelError);

  // A fused qkv that does not split into three inner_dim pieces, and a BFL file missing a block.
  std::map<std::string, at::Tensor> named(bfl.begin(), bfl.end());
  named["double_blocks.0.img_attn.qkv.weight"] = at::zeros({5, 16});
  CHECK_THROWS_WITH_AS(osor::model::flux::bfl_to_diffusers(named, config.inner_dim(), "x.safetensors"),
                       doctest::Contains("x.safetensors: key double_blocks.0.img_attn.qkv.weight has 5 rows"),
                       osor::ModelError);
  Named missing;
  for (const auto& [name, t] : bfl)
    if (name.rfind("single_blocks.1.", 0) != 0) missing.emplace_back(name, t);
  osor::model::write_safetensors(dir / "missing.safetensors", missing);
  CHECK_THROWS_WITH_AS(target.load({dir / "missing.safetensors"}),
                       doctest::Contains("missing single_transformer_blocks.1."), osor::ModelError);
  CHECK(osor::model::flux::is_bfl_layout({"img_in.weight"}));
  CHECK_FALSE(osor::model::flux::is_bfl_layout({"x_embedder.weight", "transformer_blocks.0.norm1.linear.weight"}));
}

TEST_CASE("flux: BFL names in two shards and under a model.diffusion_model. prefix load to the same transformer") {
  const auto config = tiny_config();
  FluxTransformer2DModel source(config);
  source.randomize(8);
  const Named bfl = ToBfl(module_tensors(source)).convert(config.num_layers, config.num_single_layers);
  const auto dir = osor::test::process_scratch_dir("flux_bfl_sharded");
  Named first, second, prefixed;
  for (size_t i = 0; i < bfl.size(); ++i) {
    (i % 2 ? first : second).push_back(bfl[i]);
    prefixed.emplace_back("model.diffusion_model." + bfl[i].first, bfl[i].second);
  }
  osor::model::write_safetensors(dir / "shard-1.safetensors", first);
  osor::model::write_safetensors(dir / "shard-2.safetensors", second);
  osor::model::write_safetensors(dir / "prefixed.safetensors", prefixed);
  FluxTransformer2DModel sharded(config), comfy(config);
  sharded.load({dir / "shard-1.safetensors", dir / "shard-2.safetensors"});
  check_same_parameters(source, sharded);
  comfy.load({dir / "prefixed.safetensors"});
  check_same_parameters(source, comfy);
  // One shard alone lacks half the tensors: the error names the first file and the shard count.
  FluxTransformer2DModel target(config);
  CHECK_THROWS_WITH_AS(target.load({dir / "shard-1.safetensors"}), doctest::Contains("missing"), osor::ModelError);
}
