// AutoencoderKL against diffusers on the sdxl_vae / flux_vae conformance fixtures (tiny configs, F32 weights
// under diffusers' key names), and the parameter count of the full-size SDXL VAE built on the meta device.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "model/vae/autoencoder_kl.h"
#include "tests/model/test_osor_fixture.h"

namespace {

void check_vae_fixture(const std::string& name) {
  const auto fx = osor::test::open_model_fixture(name);
  if (!fx) return;
  const auto config = osor::model::VaeConfig::from_json(fx->json.at("config").dump(), name + ".json:config");
  osor::model::AutoencoderKL vae(config);
  vae.load({fx->file(".weights.safetensors")});
  const auto& tol = fx->json.at("tolerance").at("atol");

  const auto post = vae.encode(fx->tensor("encode.x"));
  const double e_mean = osor::test::max_abs_diff(post.mean, fx->tensor("encode.mean_f64"));
  const double e_logvar = osor::test::max_abs_diff(post.logvar, fx->tensor("encode.logvar_f64"));
  const double e_std = osor::test::max_abs_diff(post.std, fx->tensor("encode.std_f64"));
  const double e_sample =
      osor::test::max_abs_diff(post.sample(fx->tensor("encode.noise")), fx->tensor("encode.sample_f64"));
  const double e_dec = osor::test::max_abs_diff(vae.decode(fx->tensor("decode.z")), fx->tensor("decode.out_f64"));
  MESSAGE(name << ": max|err| mean " << e_mean << " logvar " << e_logvar << " std " << e_std << " sample "
               << e_sample << " decode " << e_dec);
  const double t_enc = tol.at("encode.mean/logvar/sample").get<double>();
  CHECK(e_mean <= t_enc);
  CHECK(e_logvar <= t_enc);
  CHECK(e_sample <= t_enc);
  CHECK(e_std <= tol.at("encode.std").get<double>());
  CHECK(e_dec <= tol.at("decode.out").get<double>());
}

}  // namespace

TEST_CASE("conformance: model/sdxl_vae AutoencoderKL matches diffusers") { check_vae_fixture("sdxl_vae"); }

TEST_CASE("conformance: model/flux_vae AutoencoderKL matches diffusers") { check_vae_fixture("flux_vae"); }

TEST_CASE("vae: full-size SDXL VAE has 83,653,863 parameters (meta device, no allocation)") {
  // The SDXL-inpainting vae/config.json fields that shape the network (spec §3.1).
  const auto config = osor::model::VaeConfig::from_json(
      R"({"_class_name":"AutoencoderKL","act_fn":"silu","block_out_channels":[128,256,512,512],
          "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
          "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"],
          "in_channels":3,"out_channels":3,"latent_channels":4,"layers_per_block":2,"norm_num_groups":32,
          "sample_size":1024,"scaling_factor":0.13025,"force_upcast":false})",
      "sdxl-inpainting vae/config.json");
  osor::model::AutoencoderKL vae(config, at::TensorOptions().device(at::kMeta).dtype(at::kFloat));
  CHECK(vae.parameter_count() == 83653863);
  CHECK(config.scaling_factor == doctest::Approx(0.13025));
}

TEST_CASE("conformance: model/sdxl_vae tiled decode equals decode for one tile, and several tiles give its size") {
  const auto fx = osor::test::open_model_fixture("sdxl_vae");
  if (!fx) return;
  osor::model::AutoencoderKL vae(osor::model::VaeConfig::from_json(fx->json.at("config").dump(), "sdxl_vae"));
  vae.load({fx->file(".weights.safetensors")});
  const at::Tensor z = fx->tensor("decode.z");
  const int64_t longest = std::max(z.size(2), z.size(3));
  CHECK(osor::test::max_abs_diff(vae.decode_tiled(z, longest, 16), vae.decode(z)) == 0.0);
  // Tiles of about half the latent, overlapping by half a tile: at least two along its longer side.
  const int64_t tile = std::max<int64_t>(2, longest / 2 + 1);
  const at::Tensor tiled = vae.decode_tiled(z, tile, tile / 2);
  CHECK(tiled.sizes() == vae.decode(z).sizes());
  CHECK(std::isfinite(tiled.abs().max().item<double>()));
}
