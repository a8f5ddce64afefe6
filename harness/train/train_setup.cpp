#include "harness/train/train_setup.h"

#include <torch/nn/module.h>

#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "harness/error.h"
#include "harness/train/corne_dataset.h"
#include "metrics/networks/lpips_net.h"
#include "model/train/discriminator.h"
#include "model/train/generator_setup.h"
#include "model/train/train_config.h"
#include "model/weights_manifest.h"

namespace osor::harness::train {

using json = nlohmann::json;
namespace mt = model::train;

int64_t official_steps(int phase) { return phase == 1 ? 15000 : 5000; }

mt::Backbone backbone_of(const TrainRunOptions& o) {
  const std::optional<mt::Backbone> backbone = mt::backbone_named(o.backbone);
  if (!backbone) throw HarnessError("osor train: --backbone must be sdxl or flux, got " + o.backbone);
  return *backbone;
}

namespace {

json resize_json(const TrainRunOptions& o) {
  if (o.fixed_height > 0) return json{o.fixed_height, o.fixed_width};
  if (o.short_side > 0) return json(o.short_side);
  return backbone_of(o) == mt::Backbone::Flux ? json("native") : json(512);
}

}  // namespace

json settings_json(const TrainRunOptions& o, int64_t steps, int64_t world) {
  const mt::LoraSetting lora = mt::fresh_lora_setting(backbone_of(o), o.lora_rank, o.lora_alpha);
  return {{"phase", o.phase},
          {"backbone", o.backbone},
          {"data", std::filesystem::absolute(o.data).lexically_normal().string()},
          {"config_file", o.config_file.string()},
          {"init_checkpoint", o.init_checkpoint.string()},
          {"weights", o.weights_dir.empty() ? "random: " + o.random_config_dir.string() : o.weights_dir.string()},
          {"steps", steps},
          {"batch_size", o.batch_size},
          {"world_size", world},
          {"resize", resize_json(o)},
          {"lora", {{"rank", lora.rank}, {"alpha", lora.alpha}}},
          {"seed", o.seed},
          {"device", o.device},
          {"dtype", o.dtype}};
}

// A resumed run must be the same run: the phase, data, batch and world size, resize and seed decide the stream.
void check_resumable(const std::filesystem::path& run_json, const json& now) {
  json before;
  try {
    before = json::parse(std::ifstream(run_json));
  } catch (const std::exception& e) {
    throw HarnessError(run_json.string() + ": not a run description (" + e.what() + ")");
  }
  for (const char* key : {"phase", "backbone", "data", "batch_size", "world_size", "resize", "seed", "lora"})
    if (before.value(key, json()) != now.at(key))
      throw HarnessError("--resume: " + run_json.string() + " was a run with " + key + " = " + before.value(key, json()).dump() +
                         ", this one has " + now.at(key).dump() + " (use another --out for a different run)");
}

mt::Discriminator build_discriminator(const TrainRunOptions& o, const c10::Device& device) {
  auto make = [&]() -> mt::Discriminator {
    if (!o.disc_checkpoint.empty()) return mt::Discriminator::load(o.disc_checkpoint);
    if (!o.disc_trunk.empty()) {
      mt::Discriminator d{mt::DiscriminatorConfig{}};
      d.load_trunk(o.disc_trunk);
      d.initialize_heads(o.seed + 5);
      return d;
    }
    if (o.random_config_dir.empty())
      throw HarnessError("osor train: give the discriminator: --disc FILE (a whole D, e.g. an earlier run's "
                         "discriminator.safetensors) or --disc-trunk FILE (OpenCLIP convnext_xxlarge trunk, fresh heads)");
    mt::Discriminator d(mt::discriminator_config_from_file(o.random_config_dir / "discriminator" / "config.json"));
    d.randomize(o.seed + 5);
    return d;
  };
  mt::Discriminator d = make();
  d.module().to(device);
  return d;
}

metrics::LpipsNet build_lpips(const TrainRunOptions& o, const c10::Device& device) {
  if (o.weights_dir.empty()) return metrics::LpipsNet::random(metrics::LpipsTrunk::Vgg, device, o.seed + 6);
  return metrics::LpipsNet::load(metrics::LpipsTrunk::Vgg,
                                 {o.weights_dir / model::weights_file_info("vgg16").relative_path,
                                  o.weights_dir / model::weights_file_info("lpips-vgg").relative_path},
                                 device);
}

mt::TrainConfig build_config(const TrainRunOptions& o) {
  mt::TrainConfig c = o.config_file.empty() ? mt::TrainConfig::defaults(backbone_of(o), o.phase)
                                            : mt::TrainConfig::from_file(o.config_file, backbone_of(o), o.phase);
  if (o.no_gradient_checkpointing) c.gradient_checkpointing = false;
  return c;
}

ResizeOptions resize_options(const TrainRunOptions& o) {
  ResizeOptions r;
  if (o.fixed_height > 0) {
    r.policy = ResizePolicy::Fixed;
    r.fixed_height = o.fixed_height;
    r.fixed_width = o.fixed_width;
  } else if (o.short_side > 0) {
    r.short_side = o.short_side;
  } else if (backbone_of(o) == mt::Backbone::Flux) {
    r.policy = ResizePolicy::Flux;
  }
  return r;
}

}  // namespace osor::harness::train
