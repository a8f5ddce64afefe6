// OSOR one-step removal (Phase II, alpha compositing) against the official inference_enhance.py run on tiny
// backbones (osor_sdxl_e2e fixture), at the tensor level: the preprocessed inputs and recorded noise go in,
// every intermediate is compared with the float64 run under the fixture's per-tensor tolerance, and the 8-bit
// image / alpha at the processing size are compared level by level. The networks are loaded through the
// weights-directory layout (sdxl-inpainting/{unet,vae,scheduler}, osor-sdxl/) arranged in a scratch folder.
#include <doctest/doctest.h>

#include <fstream>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/osor/one_step.h"
#include "tests/conformance_fixture.h"
#include "tests/model/test_osor_fixture.h"

namespace {

int64_t max_level_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kInt) - b.to(at::kInt)).abs().max().item<int64_t>();
}

}  // namespace

TEST_CASE("conformance: model/osor_sdxl_e2e one-step Phase II removal matches the official inference") {
  const auto fx = osor::test::open_model_fixture("osor_sdxl_e2e");
  if (!fx) return;
  const auto weights = osor::test::arrange_osor_sdxl_weights(*fx);
  const auto model = osor::model::OsorSdxl::load(osor::model::OsorSdxlFiles::locate(weights), at::kCPU, at::kFloat);
  CHECK(model.has_alpha_head());
  const int64_t t = fx->json.at("model_t").get<int64_t>();
  const auto result = model.run(fx->tensor("pre.lq"), fx->tensor("pre.mask"),
                                osor::model::OneStepNoise{fx->tensor("noise.posterior"), fx->tensor("noise.eps")}, 0, t);

  const auto& per_tensor = fx->json.at("tolerance").at("per_tensor");
  for (const auto& [name, tol] : per_tensor.items()) {
    if (!result.trace.count(name)) continue;  // text_embeds / encoder_hidden_states: inputs, stored as given
    const double atol = tol.at("atol").get<double>();
    const double err = osor::test::max_abs_diff(result.trace.at(name), fx->tensor(name + "_f64"));
    MESSAGE(name << ": max|err| " << err << " (atol " << atol << ")");
    CHECK_MESSAGE(err <= atol, name);
  }
  // 8-bit outputs at the processing size, as the script writes them: (v·255).astype(uint8) truncates.
  const at::Tensor x_u8 = (result.image[0].permute({1, 2, 0}) * 255.0).to(at::kByte);
  const at::Tensor alpha_u8 = (result.alpha_image[0][0] * 255.0).to(at::kByte);
  const double allowed = osor::test::tolerance_in_words(fx->json.at("tolerance").at("uint8").get<std::string>());
  const int64_t dx = max_level_diff(x_u8, fx->tensor("x_u8")), da = max_level_diff(alpha_u8, fx->tensor("alpha_u8"));
  MESSAGE("x_u8 max level difference " << dx << ", alpha_u8 " << da << " (allowed " << allowed << ")");
  CHECK(dx <= allowed);
  CHECK(da <= allowed);
}

TEST_CASE("conformance: model/osor_sdxl_e2e one-step Phase I hard blending keeps the unmasked latent exactly") {
  const auto fx = osor::test::open_model_fixture("osor_sdxl_e2e");
  if (!fx) return;
  const auto weights = osor::test::arrange_osor_sdxl_weights(*fx);
  // A Phase I checkpoint: the same adapters without the widened conv_out.
  auto files = osor::model::OsorSdxlFiles::locate(weights);
  const auto full = osor::model::SafetensorsFile::open(files.osor_checkpoint);
  std::vector<std::pair<std::string, at::Tensor>> phase1;
  for (const auto& name : full.names())
    if (name.find("conv_out") == std::string::npos) phase1.emplace_back(name, full.tensor(name));
  files.osor_checkpoint = weights / "osor-sdxl/phase1.safetensors";
  osor::model::write_safetensors(files.osor_checkpoint, phase1);
  const auto model = osor::model::OsorSdxl::load(files, at::kCPU, at::kFloat);
  CHECK_FALSE(model.has_alpha_head());
  const auto r = model.run(fx->tensor("pre.lq"), fx->tensor("pre.mask"),
                           osor::model::OneStepNoise{fx->tensor("noise.posterior"), fx->tensor("noise.eps")});
  const at::Tensor keep = r.alpha == 0;
  REQUIRE(keep.any().item<bool>());
  // Where the latent mask is 0 the blended latent is z_lq itself, bit for bit.
  const at::Tensor z_lq = r.trace.at("z_lq").to(at::kFloat);
  CHECK(at::equal(r.trace.at("z_out").masked_select(keep), z_lq.masked_select(keep)));
  // Where it is 1 it is the x0 estimate.
  CHECK(at::equal(r.trace.at("z_out").masked_select(r.alpha == 1), r.trace.at("x0").masked_select(r.alpha == 1)));
}

TEST_CASE("osor one-step: processing size follows OSOR's resize policy, missing weights are named") {
  CHECK((osor::model::processing_size(70, 90) == std::pair<int64_t, int64_t>{80, 96}));
  CHECK((osor::model::processing_size(1024, 1024) == std::pair<int64_t, int64_t>{512, 512}));
  CHECK((osor::model::processing_size(600, 1000) == std::pair<int64_t, int64_t>{512, 864}));  // 853 → 864
  const auto empty = osor::test::scratch_dir("osor_sdxl_no_weights");
  try {
    osor::model::OsorSdxlFiles::locate(empty);
    FAIL("expected a ModelError");
  } catch (const osor::ModelError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("sdxl-inpainting/unet/config.json") != std::string::npos);
    CHECK(msg.find("osor-sdxl/prompt_embeds.safetensors") != std::string::npos);
    CHECK(msg.find("stable-diffusion-xl-1.0-inpainting-0.1") != std::string::npos);
  }
}
