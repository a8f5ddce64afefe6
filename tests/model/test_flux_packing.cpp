// FLUX latent packing, image ids and Fill conditioning against diffusers' FluxFillPipeline helpers and OSOR's
// transformer input on the flux_packing conformance fixture. Pure data movement: exact, but for the one float32
// subtract-and-multiply of the masked-image latents (<= 1 ulp).
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include "model/error.h"
#include "model/flux/flux_packing.h"
#include "tests/model/test_osor_fixture.h"

namespace flux = osor::model::flux;

namespace {

void check_exact(const at::Tensor& got, const at::Tensor& expected, const std::string& what) {
  REQUIRE_MESSAGE(got.sizes() == expected.sizes(), what << ": shape " << got.sizes() << ", expected " << expected.sizes());
  const double err = osor::test::max_abs_diff(got, expected);
  MESSAGE("flux_packing " << what << ": max|err| " << err << " (exact)");
  CHECK_MESSAGE(err == 0.0, what);
}

}  // namespace

TEST_CASE("conformance: model/flux_packing pack, unpack and image ids match FluxFillPipeline") {
  const auto fx = osor::test::open_model_fixture("flux_packing");
  if (!fx) return;
  const at::Tensor latents = fx->tensor("latents");
  const int64_t h = latents.size(2), w = latents.size(3);
  check_exact(flux::pack_latents(latents), fx->tensor("packed"), "packed");
  check_exact(flux::unpack_latents(fx->tensor("packed"), h, w), latents, "unpack(packed)");
  check_exact(flux::unpack_latents(fx->tensor("alpha_feats"), h, w), fx->tensor("alpha_unpacked"), "alpha_unpacked");
  check_exact(flux::latent_image_ids(h / 2, w / 2), fx->tensor("img_ids"), "img_ids");
  CHECK(flux::text_ids(7).sizes() == at::IntArrayRef({7, 3}));
  CHECK(flux::text_ids(7).abs().sum().item<double>() == 0.0);
}

TEST_CASE("conformance: model/flux_packing Fill conditioning (stock masked-image latents and OSOR's unmasked input) matches") {
  const auto fx = osor::test::open_model_fixture("flux_packing");
  if (!fx) return;
  const int64_t s = fx->json.at("vae_scale_factor").get<int64_t>();
  const double shift = fx->json.at("shift_factor").get<double>(), scale = fx->json.at("scaling_factor").get<double>();
  const at::Tensor mask = flux::binarize_mask(fx->tensor("pixel_mask_soft"));
  check_exact(mask, fx->tensor("pixel_mask_binarized"), "pixel_mask_binarized");
  check_exact(flux::pack_fill_mask(mask, s), fx->tensor("mask_packed"), "mask_packed");

  const at::Tensor scaled = (fx->tensor("masked_image_latents_raw") - shift) * scale;
  const at::Tensor expected_scaled = fx->tensor("masked_image_latents_packed");
  const at::Tensor packed_scaled = flux::pack_latents(scaled);
  REQUIRE(packed_scaled.sizes() == expected_scaled.sizes());
  // <= 1 ulp of float32 per element (the reference's own subtract and multiply).
  const at::Tensor ulp = at::abs(expected_scaled) * std::ldexp(1.0, -23) + 1e-30;
  const double ulps = ((packed_scaled - expected_scaled).abs() / ulp).max().item<double>();
  MESSAGE("flux_packing masked_image_latents_packed: max error " << ulps << " ulp (<= 1)");
  CHECK(ulps <= 1.0);

  const at::Tensor masked_image_latents = flux::fill_masked_image_latents(scaled, mask, s);
  const at::Tensor expected_mil = fx->tensor("masked_image_latents");
  REQUIRE(masked_image_latents.sizes() == expected_mil.sizes());
  const int64_t mask_features = fx->tensor("mask_packed").size(2);
  check_exact(masked_image_latents.narrow(2, expected_mil.size(2) - mask_features, mask_features),
              expected_mil.narrow(2, expected_mil.size(2) - mask_features, mask_features), "masked_image_latents (mask)");
  // The stock transformer input from the reference's own masked_image_latents: pure concatenation.
  check_exact(flux::fill_transformer_input(fx->tensor("latents"), expected_mil), fx->tensor("fill_transformer_input"),
              "fill_transformer_input");
  check_exact(flux::osor_fill_transformer_input(fx->tensor("osor.z_t"), fx->tensor("osor.z_shot"),
                                                fx->tensor("osor.pixel_mask"), s),
              fx->tensor("osor.transformer_input"), "osor.transformer_input");
}

TEST_CASE("flux: packing refuses odd latent grids and masks that do not fit, naming the shapes") {
  CHECK_THROWS_WITH_AS(flux::pack_latents(at::zeros({1, 16, 5, 4})), doctest::Contains("[1,16,5,4]"), osor::ModelError);
  CHECK_THROWS_WITH_AS(flux::unpack_latents(at::zeros({1, 6, 64}), 4, 4), doctest::Contains("4x4"), osor::ModelError);
  CHECK_THROWS_WITH_AS(flux::pack_fill_mask(at::zeros({1, 1, 40, 64}), 8), doctest::Contains("multiples of 16"),
                       osor::ModelError);
  const at::Tensor z = at::randn({2, 16, 4, 6});
  CHECK(osor::test::max_abs_diff(flux::unpack_latents(flux::pack_latents(z), 4, 6), z) == 0.0);
}
