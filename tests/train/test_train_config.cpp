// The trainer's settings: official defaults per backbone and phase (spec §1.1), JSON overrides, and errors that
// name the file and the key.
#include <doctest/doctest.h>

#include <string>

#include "model/train/train_config.h"

using namespace osor::model::train;

TEST_CASE("train config: defaults are the official phase1/phase2 YAML settings of each backbone") {
  const auto sdxl1 = TrainConfig::defaults(Backbone::Sdxl, 1), sdxl2 = TrainConfig::defaults(Backbone::Sdxl, 2);
  CHECK(sdxl1.model_t == 600);
  CHECK(sdxl2.model_t == 400);
  CHECK(sdxl1.loss_weights.l1 == 0.25);
  CHECK(sdxl1.loss_weights.lpips == 5.0);
  CHECK(sdxl1.loss_weights.gan == 0.3);
  CHECK(sdxl1.loss_weights.gp == 60000.0);
  CHECK(sdxl2.loss_weights.alpha_bce == 1.0);
  CHECK(sdxl2.loss_weights.alpha_dice == 2.0);
  CHECK(sdxl1.optimizer.lr == 1e-5);
  CHECK(sdxl1.optimizer.beta1 == 0.9);
  CHECK(sdxl1.optimizer.beta2 == 0.999);
  CHECK(sdxl1.optimizer.weight_decay == 0.01);
  CHECK(sdxl1.max_grad_norm == 1.0);
  CHECK(sdxl1.occupancy.method == OccupancyMethod::Area);
  CHECK(sdxl2.mask_degradation.shift_limit == 35);
  CHECK((sdxl2.mask_degradation.mode_weights == std::array<double, 5>{0.35, 0.2, 0.1, 0.05, 0.3}));
  const auto flux = TrainConfig::defaults(Backbone::Flux, 1);
  CHECK(flux.model_t == 400);
  CHECK(flux.loss_weights.lpips == 3.0);
  CHECK(flux.loss_weights.l1 == 0.5);
  CHECK(flux.mask_degradation.shift_limit == 50);
  CHECK((flux.mask_degradation.hole_kernels == std::vector<int64_t>{21, 31, 41}));
  CHECK_THROWS_WITH_AS(TrainConfig::defaults(Backbone::Sdxl, 3), doctest::Contains("phase must be 1 or 2"), std::exception);
}

TEST_CASE("train config: JSON overrides keys and keeps the other defaults, unknown keys name the file") {
  const auto c = TrainConfig::from_json(
      R"({"loss_weights": {"gan": 0.5}, "optimizer": {"lr": 1e-3, "betas": [0.8, 0.99]}, "occupancy": "nearest",
          "mask_degradation": {"shrink_range": [0.4, 0.6], "hole_kernels": [9]}})",
      "c.json", Backbone::Sdxl, 2);
  CHECK(c.loss_weights.gan == 0.5);
  CHECK(c.loss_weights.lpips == 5.0);
  CHECK(c.optimizer.lr == 1e-3);
  CHECK(c.optimizer.beta1 == 0.8);
  CHECK(c.optimizer.beta2 == 0.99);
  CHECK(c.optimizer.weight_decay == 0.01);
  CHECK(c.occupancy.method == OccupancyMethod::Nearest);
  CHECK(c.mask_degradation.shrink_min == 0.4);
  CHECK((c.mask_degradation.hole_kernels == std::vector<int64_t>{9}));
  CHECK(c.model_t == 400);
  CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"loss_weights": {"lpips_vgg": 1}})", "c.json", Backbone::Sdxl, 1),
                       doctest::Contains("training config c.json: unknown key loss_weights.lpips_vgg"), std::exception);
  CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"occupancy": "bicubic"})", "c.json", Backbone::Sdxl, 1),
                       doctest::Contains("'bicubic' is unknown"), std::exception);
  CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"model_t": "six hundred"})", "c.json", Backbone::Sdxl, 1),
                       doctest::Contains("key model_t"), std::exception);
  CHECK_THROWS_WITH_AS(TrainConfig::from_file("/nonexistent/c.json", Backbone::Sdxl, 1),
                       doctest::Contains("/nonexistent/c.json: cannot be read"), std::exception);
}
