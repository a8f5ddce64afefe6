#include "model/train/train_config.h"

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/error.h"

namespace osor::model::train {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw ModelError("training config " + source + ": " + what);
}

void check_keys(const json& j, std::initializer_list<const char*> known, const std::string& source,
                const std::string& where) {
  if (!j.is_object()) fail(source, where + " must be an object");
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) fail(source, "unknown key " + where + (where.empty() ? "" : ".") + key);
  }
}

template <class T>
void read(const json& j, const char* key, T& out, const std::string& source) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const json::exception& e) {
    fail(source, std::string("key ") + key + ": " + e.what());
  }
}

void read_loss_weights(const json& j, LossWeights& w, const std::string& source) {
  check_keys(j, {"l1", "lpips", "gan", "gp", "alpha_bce", "alpha_dice"}, source, "loss_weights");
  read(j, "l1", w.l1, source);
  read(j, "lpips", w.lpips, source);
  read(j, "gan", w.gan, source);
  read(j, "gp", w.gp, source);
  read(j, "alpha_bce", w.alpha_bce, source);
  read(j, "alpha_dice", w.alpha_dice, source);
}

void read_optimizer(const json& j, AdamWOptions& o, const std::string& source) {
  check_keys(j, {"lr", "betas", "eps", "weight_decay"}, source, "optimizer");
  read(j, "lr", o.lr, source);
  read(j, "eps", o.eps, source);
  read(j, "weight_decay", o.weight_decay, source);
  std::array<double, 2> betas{o.beta1, o.beta2};
  read(j, "betas", betas, source);
  o.beta1 = betas[0];
  o.beta2 = betas[1];
}

void read_mask_degradation(const json& j, MaskDegradationOptions& m, const std::string& source) {
  check_keys(j, {"mode_weights", "shrink_range", "dilate_range", "shift_limit", "expand_kernels", "hole_kernels"},
             source, "mask_degradation");
  read(j, "mode_weights", m.mode_weights, source);
  std::array<double, 2> shrink{m.shrink_min, m.shrink_max};
  read(j, "shrink_range", shrink, source);
  m.shrink_min = shrink[0];
  m.shrink_max = shrink[1];
  std::array<int64_t, 2> dilate{m.dilate_min, m.dilate_max};
  read(j, "dilate_range", dilate, source);
  m.dilate_min = dilate[0];
  m.dilate_max = dilate[1];
  read(j, "shift_limit", m.shift_limit, source);
  read(j, "expand_kernels", m.expand_kernels, source);
  read(j, "hole_kernels", m.hole_kernels, source);
}

}  // namespace

std::optional<Backbone> backbone_named(const std::string& name) {
  if (name == "sdxl") return Backbone::Sdxl;
  if (name == "flux") return Backbone::Flux;
  return std::nullopt;
}

TrainConfig TrainConfig::defaults(Backbone backbone, int phase) {
  if (phase != 1 && phase != 2) throw ModelError("training phase must be 1 or 2, got " + std::to_string(phase));
  TrainConfig c;
  const bool flux = backbone == Backbone::Flux;
  c.model_t = !flux && phase == 1 ? 600 : 400;
  c.loss_weights = flux ? LossWeights::flux_defaults() : LossWeights::sdxl_defaults();
  c.mask_degradation = flux ? MaskDegradationOptions::flux_defaults() : MaskDegradationOptions::sdxl_defaults();
  return c;
}

TrainConfig TrainConfig::from_json(const std::string& text, const std::string& source, Backbone backbone, int phase) {
  TrainConfig c = defaults(backbone, phase);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(source, std::string("not valid JSON: ") + e.what());
  }
  check_keys(j, {"model_t", "max_grad_norm", "gradient_checkpointing", "loss_weights", "optimizer", "occupancy",
                 "mask_degradation"},
             source, "");
  read(j, "model_t", c.model_t, source);
  read(j, "max_grad_norm", c.max_grad_norm, source);
  read(j, "gradient_checkpointing", c.gradient_checkpointing, source);
  if (j.contains("loss_weights")) read_loss_weights(j.at("loss_weights"), c.loss_weights, source);
  if (j.contains("optimizer")) read_optimizer(j.at("optimizer"), c.optimizer, source);
  if (j.contains("mask_degradation")) read_mask_degradation(j.at("mask_degradation"), c.mask_degradation, source);
  if (j.contains("occupancy")) {
    std::string name;
    read(j, "occupancy", name, source);
    try {
      c.occupancy.method = parse_occupancy_method(name);
    } catch (const ModelError& e) {
      fail(source, e.what());
    }
  }
  return c;
}

TrainConfig TrainConfig::from_file(const std::filesystem::path& path, Backbone backbone, int phase) {
  std::ifstream in(path);
  if (!in) throw ModelError("training config " + path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return from_json(text.str(), path.string(), backbone, phase);
}

}  // namespace osor::model::train
