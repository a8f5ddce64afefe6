#include "model/flux/bfl_key_names.h"

#include <ATen/ATen.h>

#include <cctype>

#include "model/error.h"

namespace osor::model::flux {
namespace {

using Split = BflSplit;

// One BFL module path → its diffusers module path(s). `scale` marks a per-head RMSNorm: BFL's leaf `scale` is
// diffusers' `weight`; every other module is a Linear with leaves `weight` and `bias`.
struct Rule {
  std::vector<std::string> diffusers;
  Split split = Split::none;
  bool scale = false;
};

const std::map<std::string, Rule>& top_level_rules() {
  static const std::map<std::string, Rule> rules = {
      {"img_in", {{"x_embedder"}}},
      {"txt_in", {{"context_embedder"}}},
      {"time_in.in_layer", {{"time_text_embed.timestep_embedder.linear_1"}}},
      {"time_in.out_layer", {{"time_text_embed.timestep_embedder.linear_2"}}},
      {"vector_in.in_layer", {{"time_text_embed.text_embedder.linear_1"}}},
      {"vector_in.out_layer", {{"time_text_embed.text_embedder.linear_2"}}},
      {"guidance_in.in_layer", {{"time_text_embed.guidance_embedder.linear_1"}}},
      {"guidance_in.out_layer", {{"time_text_embed.guidance_embedder.linear_2"}}},
      {"final_layer.linear", {{"proj_out"}}},
      {"final_layer.adaLN_modulation.1", {{"norm_out.linear"}, Split::swap_halves}},
  };
  return rules;
}

const std::map<std::string, Rule>& double_block_rules() {
  static const std::map<std::string, Rule> rules = {
      {"img_mod.lin", {{"norm1.linear"}}},
      {"txt_mod.lin", {{"norm1_context.linear"}}},
      {"img_attn.qkv", {{"attn.to_q", "attn.to_k", "attn.to_v"}, Split::qkv}},
      {"txt_attn.qkv", {{"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}, Split::qkv}},
      {"img_attn.norm.query_norm", {{"attn.norm_q"}, Split::none, true}},
      {"img_attn.norm.key_norm", {{"attn.norm_k"}, Split::none, true}},
      {"txt_attn.norm.query_norm", {{"attn.norm_added_q"}, Split::none, true}},
      {"txt_attn.norm.key_norm", {{"attn.norm_added_k"}, Split::none, true}},
      {"img_attn.proj", {{"attn.to_out.0"}}},
      {"txt_attn.proj", {{"attn.to_add_out"}}},
      {"img_mlp.0", {{"ff.net.0.proj"}}},
      {"img_mlp.2", {{"ff.net.2"}}},
      {"txt_mlp.0", {{"ff_context.net.0.proj"}}},
      {"txt_mlp.2", {{"ff_context.net.2"}}},
  };
  return rules;
}

const std::map<std::string, Rule>& single_block_rules() {
  static const std::map<std::string, Rule> rules = {
      {"modulation.lin", {{"norm.linear"}}},
      {"linear1", {{"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}, Split::qkv_mlp}},
      {"linear2", {{"proj_out"}}},
      {"norm.query_norm", {{"attn.norm_q"}, Split::none, true}},
      {"norm.key_norm", {{"attn.norm_k"}, Split::none, true}},
  };
  return rules;
}

// "double_blocks.12.img_mod.lin.weight" → ("transformer_blocks.12.", "img_mod.lin.weight", double rules).
struct Located {
  std::string prefix, rest;
  const std::map<std::string, Rule>* rules = nullptr;
};

bool locate_block(const std::string& key, const std::string& bfl_block, const std::string& diffusers_block,
                  const std::map<std::string, Rule>& rules, Located& out) {
  if (key.compare(0, bfl_block.size(), bfl_block) != 0) return false;
  size_t end = bfl_block.size();
  while (end < key.size() && std::isdigit(static_cast<unsigned char>(key[end]))) ++end;
  if (end == bfl_block.size() || end >= key.size() || key[end] != '.') return false;
  const std::string index = key.substr(bfl_block.size(), end - bfl_block.size());
  out = {diffusers_block + index + ".", key.substr(end + 1), &rules};
  return true;
}

Located locate(const std::string& key) {
  Located out;
  if (locate_block(key, "double_blocks.", "transformer_blocks.", double_block_rules(), out)) return out;
  if (locate_block(key, "single_blocks.", "single_transformer_blocks.", single_block_rules(), out)) return out;
  if (key.compare(0, 14, "double_blocks.") == 0 || key.compare(0, 14, "single_blocks.") == 0) return out;
  return {"", key, &top_level_rules()};
}

// The dim-0 pieces of a fused tensor in the order of rule.diffusers; empty when its rows do not split.
}  // namespace

std::vector<at::Tensor> split_bfl_rows(const at::Tensor& t, Split split, int64_t dim) {
  const int64_t rows = t.dim() > 0 ? t.size(0) : 0;
  switch (split) {
    case Split::none:
      return {t};
    case Split::qkv:
      if (rows != 3 * dim) return {};
      return {t.narrow(0, 0, dim), t.narrow(0, dim, dim), t.narrow(0, 2 * dim, dim)};
    case Split::qkv_mlp:
      if (rows <= 3 * dim) return {};
      return {t.narrow(0, 0, dim), t.narrow(0, dim, dim), t.narrow(0, 2 * dim, dim),
              t.narrow(0, 3 * dim, rows - 3 * dim)};
    case Split::swap_halves:  // BFL (shift, scale) → diffusers (scale, shift)
      if (rows == 0 || rows % 2 != 0) return {};
      return {at::cat({t.narrow(0, rows / 2, rows / 2), t.narrow(0, 0, rows / 2)}, 0)};
  }
  return {};
}

namespace {

std::string rows_expected(Split split, int64_t dim) {
  switch (split) {
    case Split::qkv:
      return std::to_string(3 * dim) + " rows (q, k, v of " + std::to_string(dim) + ")";
    case Split::qkv_mlp:
      return "more than " + std::to_string(3 * dim) + " rows (q, k, v of " + std::to_string(dim) + ", then the MLP)";
    default:
      return "an even number of rows (shift, scale)";
  }
}

const Rule* find_rule(const std::map<std::string, Rule>& rules, const std::string& module) {
  const auto it = rules.find(module);
  return it == rules.end() ? nullptr : &it->second;
}

}  // namespace

bool bfl_module_to_diffusers(const std::string& bfl_module, BflModule& out) {
  // locate() splits "<block>.<i>.<rest>"; the module key is all of `rest` here (no leaf).
  const Located where = locate(bfl_module + ".weight");
  if (!where.rules) return false;
  const Rule* rule = find_rule(*where.rules, where.rest.substr(0, where.rest.size() - 7));
  if (!rule || rule->scale) return false;
  out.split = rule->split;
  out.diffusers.clear();
  for (const auto& d : rule->diffusers) out.diffusers.push_back(where.prefix + d);
  return true;
}

std::string kohya_to_bfl_module(const std::string& kohya) {
  auto flat = [](std::string s) {
    for (char& ch : s)
      if (ch == '.') ch = '_';
    return s;
  };
  for (const auto& [block, rules] : {std::make_pair(std::string("double_blocks_"), &double_block_rules()),
                                     std::make_pair(std::string("single_blocks_"), &single_block_rules())}) {
    if (kohya.compare(0, block.size(), block) != 0) continue;
    size_t end = block.size();
    while (end < kohya.size() && std::isdigit(static_cast<unsigned char>(kohya[end]))) ++end;
    if (end == block.size() || end >= kohya.size() || kohya[end] != '_') return "";
    const std::string rest = kohya.substr(end + 1);
    for (const auto& entry : *rules)
      if (flat(entry.first) == rest)
        return block.substr(0, block.size() - 1) + "." + kohya.substr(block.size(), end - block.size()) + "." +
               entry.first;
    return "";
  }
  for (const auto& entry : top_level_rules())
    if (flat(entry.first) == kohya) return entry.first;
  return "";
}

bool is_bfl_layout(const std::vector<std::string>& names) {
  for (const auto& name : names)
    for (const char* prefix : {"double_blocks.", "single_blocks.", "final_layer.", "img_in."})
      if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

std::map<std::string, at::Tensor> bfl_to_diffusers(const std::map<std::string, at::Tensor>& bfl, int64_t inner_dim,
                                                   const std::string& source) {
  auto fail = [&](const std::string& key, const std::string& what) {
    throw ModelError("BFL FLUX checkpoint " + source + ": key " + key + " " + what);
  };
  std::map<std::string, at::Tensor> out;
  for (const auto& [key, tensor] : bfl) {
    const Located where = locate(key);
    const size_t dot = where.rest.rfind('.');
    const Rule* rule = where.rules && dot != std::string::npos ? find_rule(*where.rules, where.rest.substr(0, dot))
                                                               : nullptr;
    const std::string leaf = dot == std::string::npos ? "" : where.rest.substr(dot + 1);
    if (!rule || (rule->scale ? leaf != "scale" : (leaf != "weight" && leaf != "bias")))
      fail(key, "has no diffusers name (not a FLUX.1 transformer key)");
    const std::vector<at::Tensor> pieces = split_bfl_rows(tensor, rule->split, inner_dim);
    if (pieces.empty())
      fail(key, "has " + std::to_string(tensor.dim() ? tensor.size(0) : 0) + " rows, expected " +
                    rows_expected(rule->split, inner_dim));
    const std::string diffusers_leaf = rule->scale ? "weight" : leaf;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const std::string name = where.prefix + rule->diffusers[i] + "." + diffusers_leaf;
      if (!out.emplace(name, pieces[i]).second) fail(key, "maps to " + name + ", which another key also gives");
    }
  }
  return out;
}

}  // namespace osor::model::flux
