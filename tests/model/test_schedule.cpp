// DDPM scaled-linear schedule, forward noising and one-step x0 against diffusers' DDPMScheduler (schedule fixture).
#include <doctest/doctest.h>

#include "model/error.h"
#include "model/schedulers/ddpm.h"
#include "tests/fixture_tensors.h"
#include "tests/model/test_osor_fixture.h"

TEST_CASE("conformance: model/schedule DDPM table, add_noise and x0 (clipped and not) match diffusers") {
  const auto fx = osor::test::open_model_fixture("schedule");
  if (!fx) return;
  const std::string json_text = fx->json.at("scheduler_config_json").dump();
  const auto config = osor::model::DdpmScheduleConfig::from_json(json_text, "schedule.json:scheduler_config_json");
  // As diffusers resolved the same config for the reference run.
  CHECK(config.clip_sample == fx->json.at("resolved_ddpm_config").at("clip_sample").get<bool>());
  const osor::model::DdpmSchedule schedule(config);
  const auto& tol = fx->json.at("tolerance");
  const double ac_rtol = tol.at("alphas_cumprod").at("rtol").get<double>();
  const double atol = tol.at("z_t / x0 (float32)").at("atol").get<double>();

  const at::Tensor ref_ac = fx->tensor("alphas_cumprod_f32").to(at::kDouble);
  const double ac_rel = ((schedule.alphas_cumprod().to(at::kDouble) - ref_ac).abs() / ref_ac).max().item<double>();
  MESSAGE("alphas_cumprod max relative error " << ac_rel << " (rtol " << ac_rtol << ")");
  CHECK(ac_rel <= ac_rtol);

  auto clipped_config = config;
  clipped_config.clip_sample = true;  // DDPMScheduler's default when a config lacks the key
  const osor::model::DdpmSchedule clipped(clipped_config);
  const at::Tensor z0 = fx->tensor("sdxl.z0"), noise = fx->tensor("sdxl.noise"), eps = fx->tensor("sdxl.eps_pred");
  // The timesteps the fixture stores ("sdxl.t<t>.z_t").
  const std::string prefix = "sdxl.t";
  std::vector<int64_t> timesteps;
  for (const std::string& key : osor::test::keys_with(fx->io, ".z_t"))
    if (key.rfind(prefix, 0) == 0) timesteps.push_back(std::stoll(key.substr(prefix.size())));
  REQUIRE(!timesteps.empty());
  for (const int64_t t : timesteps) {
    const std::string p = prefix + std::to_string(t) + ".";
    const at::Tensor z_t = schedule.add_noise(z0, noise, t);
    const double e_zt = osor::test::max_abs_diff(z_t, fx->tensor(p + "z_t"));
    const double e_zt64 = osor::test::max_abs_diff(z_t, fx->tensor(p + "z_t_f64"));
    const at::Tensor ref_zt = fx->tensor(p + "z_t");
    const double e_x0 = osor::test::max_abs_diff(schedule.predict_x0(eps, t, ref_zt), fx->tensor(p + "x0_unclipped"));
    const double e_x0_64 =
        osor::test::max_abs_diff(schedule.predict_x0(eps, t, ref_zt), fx->tensor(p + "x0_unclipped_f64"));
    const double e_clip = osor::test::max_abs_diff(clipped.predict_x0(eps, t, ref_zt), fx->tensor(p + "x0_clipped"));
    MESSAGE("t=" << t << ": z_t " << e_zt << " (vs f64 " << e_zt64 << "), x0 " << e_x0 << " (vs f64 " << e_x0_64
                 << "), x0 clipped " << e_clip << "; atol " << atol);
    CHECK(e_zt <= atol);
    CHECK(e_x0 <= atol);
    CHECK(e_clip <= atol);
  }
}

TEST_CASE("schedule: a config without clip_sample clips (DDPMScheduler default), bad settings are named") {
  const auto c = osor::model::DdpmScheduleConfig::from_json(R"({"beta_schedule": "scaled_linear"})", "s.json");
  CHECK(c.clip_sample);
  CHECK_THROWS_WITH_AS(osor::model::DdpmScheduleConfig::from_json(R"({"beta_schedule": "cosine"})", "s.json"),
                       "scheduler config s.json: beta_schedule cosine is not supported (linear, scaled_linear)",
                       osor::ModelError);
}
