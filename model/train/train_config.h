// The trainer's settings in one place, defaults = the official configs (osor-*/configs/phase{1,2}.yaml; spec §1.1),
// overridable from a JSON file whose keys mirror the structs:
//   {"model_t": 600, "max_grad_norm": 1.0, "gradient_checkpointing": true,
//    "loss_weights": {"l1": 0.25, "lpips": 5.0, "gan": 0.3, "gp": 60000, "alpha_bce": 1.0, "alpha_dice": 2.0},
//    "optimizer": {"lr": 1e-5, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},   (G and D alike)
//    "occupancy": "area" | "nearest" | ... (model/train/occupancy.h names),
//    "mask_degradation": {"mode_weights": [...5], "shrink_range": [0.5, 0.7], "dilate_range": [1, 3],
//                         "shift_limit": 35, "expand_kernels": [...], "hole_kernels": [...]}}
// Unknown keys are errors (a misspelt weight must not silently fall back to its default).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "model/train/adamw.h"
#include "model/train/loss_weights.h"
#include "model/train/mask_degradation.h"
#include "model/train/occupancy.h"

namespace osor::model::train {

enum class Backbone { Sdxl, Flux };

// The backbone a command line names: "sdxl" or "flux"; nullopt for anything else.
std::optional<Backbone> backbone_named(const std::string& name);

struct TrainConfig {
  int64_t model_t = 600;       // SDXL Phase I; Phase II and FLUX: 400
  double max_grad_norm = 1.0;  // G only
  // training.grad_checkpointing: the generator network recomputes its blocks' activations in backward (diffusers'
  // enable_gradient_checkpointing; UNet2DConditionModel / FluxTransformer2DModel::set_gradient_checkpointing).
  // Memory only: values and gradients are the same either way.
  bool gradient_checkpointing = true;
  LossWeights loss_weights;
  AdamWOptions optimizer;      // lr_g = lr_d
  OccupancyOptions occupancy;
  MaskDegradationOptions mask_degradation;

  // The official settings of a backbone and phase (1 or 2; ModelError otherwise).
  static TrainConfig defaults(Backbone backbone, int phase);
  // `defaults` overridden by the JSON text; `source` names it in errors (ModelError naming the key).
  static TrainConfig from_json(const std::string& text, const std::string& source, Backbone backbone, int phase);
  static TrainConfig from_file(const std::filesystem::path& path, Backbone backbone, int phase);
};

}  // namespace osor::model::train
