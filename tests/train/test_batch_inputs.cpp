// conformance: train/train_phase1, train/train_phase2 — the latent side of every step's batch (OSOR's
// prepare_batch_inputs): VAE posterior, z_shot, z_t at the phase's t, the latent masks, z_in and time_ids, with the
// fixture's noise draws.
#include <doctest/doctest.h>
#include <ATen/ATen.h>

#include <fstream>
#include <set>
#include <string>

#include "model/schedulers/ddpm.h"
#include "model/train/batch_inputs.h"
#include "model/train/mask_degradation.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/train/train_fixture.h"

namespace {

void check_batch_latents(const std::filesystem::path& root, const std::string& name) {
  osor::test::TrainFixture fx(root, name);
  const auto model_dir = root / "model";
  const auto vae_config = nlohmann::json::parse(std::ifstream(model_dir / "sdxl_vae.json")).at("config");
  osor::model::AutoencoderKL vae(osor::model::VaeConfig::from_json(vae_config.dump(), (model_dir / "sdxl_vae.json").string()));
  vae.load({model_dir / "sdxl_vae.weights.safetensors"});
  const osor::model::DdpmSchedule schedule(osor::model::DdpmScheduleConfig::from_json(
      fx.json.at("models").at("scheduler_config").dump(), (fx.dir / (name + ".json")).string()));
  const int64_t t = fx.json.at("config").at("model_t").get<int64_t>();

  const at::Tensor shot = osor::test::images_from_u8(fx.io.tensor("batch.shot_u8")) * 2 - 1;
  const at::Tensor mask = fx.io.tensor("batch.mask_u8").unsqueeze(1).to(at::kFloat) / 255;
  const bool phase2 = fx.io.contains("batch.gt_mask_u8");
  const at::Tensor gt_mask = phase2 ? fx.io.tensor("batch.gt_mask_u8").unsqueeze(1).to(at::kFloat) / 255 : at::Tensor();
  std::set<std::string> steps;
  for (const auto& key : osor::test::keys_with(fx.io, ".z_t_f64")) steps.insert(key);
  REQUIRE(!steps.empty());
  for (const auto& s : steps) {
    const auto b = osor::model::train::prepare_batch_latents(vae, schedule, shot, mask, fx.io.tensor("noise." + s + ".posterior"),
                                                             fx.io.tensor("noise." + s + ".eps"), t, gt_mask);
    fx.check(s + ".posterior_mean", b.posterior_mean);
    fx.check(s + ".posterior_std", b.posterior_std);
    fx.check(s + ".z_shot", b.z_shot);
    fx.check(s + ".noise", b.noise);
    fx.check(s + ".z_t", b.z_t);
    fx.check(s + ".mask_latent", b.mask_latent);
    fx.check(s + ".z_in", b.z_in);
    fx.check(s + ".time_ids", b.time_ids);
    if (phase2) fx.check(s + ".gt_mask_latent", b.gt_mask_latent);
  }
  fx.summary();
}

}  // namespace

TEST_CASE("conformance: train/train_phase1 batch latents of every step (posterior, z_shot, z_t at t, masks, z_in, time_ids)") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase1.json");
  check_batch_latents(root, "train_phase1");
}

TEST_CASE("conformance: train/train_phase2 the input mask is the collate's degradation of gt_mask") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase2.json");
  osor::test::TrainFixture fx(root, "train_phase2");
  const auto& cfg = fx.json.at("config").at("mask_degradation");
  osor::model::train::MaskDegradationDraws draws;
  draws.mode = osor::model::train::parse_mask_degradation(cfg.at("mode").get<std::string>());
  REQUIRE_MESSAGE(draws.mode != osor::model::train::MaskDegradation::Holes, "holes needs the seed draws");
  draws.ratio = cfg.value("ratio", draws.ratio);
  draws.kernel = cfg.value("kernel", draws.kernel);
  draws.iterations = cfg.value("iterations", draws.iterations);
  draws.dx = cfg.value("dx", draws.dx);
  draws.dy = cfg.value("dy", draws.dy);
  const at::Tensor gt = fx.io.tensor("batch.gt_mask_u8"), input = fx.io.tensor("batch.mask_u8");
  for (int64_t b = 0; b < gt.size(0); ++b) {
    const at::Tensor degraded = osor::model::train::degrade_mask(osor::model::train::binarize_mask(gt[b]), draws, {});
    CHECK_MESSAGE(degraded.equal(input[b]), "sample " << b << ": " << degraded.ne(input[b]).sum().item<int64_t>() << " pixels differ");
  }
}

TEST_CASE("conformance: train/train_phase2 batch latents of every step, with the degraded input mask and gt_mask_latent") {
  OSOR_REQUIRE_CONFORMANCE(root, "train/train_phase2.json");
  check_batch_latents(root, "train_phase2");
}
