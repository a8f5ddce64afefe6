// `osor remove --method osor-flux` reproduces the official OSOR-FLUX inference (osor_flux_e2e fixture: tiny
// FLUX.1-Fill transformer + OSOR checkpoint + FLUX VAE, float32, recorded noise) end to end through the
// weights-directory layout: the output PNG (original size, after Pillow's bicubic resizes both ways) and the alpha
// PNG (processing size) within the fixture's uint8 tolerance. The prompt cache is OSOR's own .pt (prompt=FILE).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "harness/image_io.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/model/test_flux_fixture.h"
#include "tests/test_paths.h"

TEST_CASE("conformance: model/osor_flux_e2e osor remove --method osor-flux reproduces the official OSOR-FLUX inference PNGs") {
  const auto fx = osor::test::open_model_fixture("osor_flux_e2e");
  if (!fx) return;
  const auto weights = osor::test::arrange_osor_flux_weights(*fx);
  const auto work = osor::test::scratch_dir("osor_flux_e2e_cli");
  osor::model::write_safetensors(work / "noise.safetensors",
                                 {{"posterior", fx->tensor("noise.posterior")}, {"flow", fx->tensor("noise.flow")}});
  const std::string options = "alpha=processing,t=" + std::to_string(fx->json.at("model_t").get<int64_t>()) +
                              ",guidance=" + fx->json.at("guidance_scale").dump() +
                              ",prompt=" + fx->file(".prompt_embeds.pt").string();
  const std::string cmd = std::string(OSOR_BINARY) + " remove --method osor-flux:" + options + " --image " +
                          fx->file(".input.png").string() + " --mask " + fx->file(".mask.png").string() + " --out " +
                          (work / "out.png").string() + " --alpha " + (work / "alpha.png").string() + " --weights " +
                          weights.string() + " --device cpu --dtype fp32 --noise " +
                          (work / "noise.safetensors").string() + " 2>" + (work / "stderr.txt").string();
  REQUIRE(std::system(cmd.c_str()) == 0);

  auto levels = [](const std::filesystem::path& p) {
    return (osor::harness::read_image(p).rgb * 255.0).round().to(at::kInt);
  };
  const double allowed = osor::test::tolerance_in_words(fx->json.at("tolerance").at("uint8").get<std::string>());
  const int64_t d_out = (levels(work / "out.png") - levels(fx->file(".output.png"))).abs().max().item<int64_t>();
  const int64_t d_alpha = (levels(work / "alpha.png") - levels(fx->file(".alpha.png"))).abs().max().item<int64_t>();
  MESSAGE("osor_flux_e2e: output max level difference " << d_out << ", alpha " << d_alpha << " (allowed " << allowed
                                                        << ")");
  CHECK(d_out <= allowed);
  CHECK(d_alpha <= allowed);
  // Per-stage timing on stderr: encode, the transformer call, decode.
  std::ifstream in(work / "stderr.txt");
  const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* stage : {"vae_encode=", "transformer=", "vae_decode="})
    CHECK_MESSAGE(err.find(stage) != std::string::npos, stage << " in: " << err);
}

TEST_CASE("osor remove --method osor-flux without weights names the missing files in one line") {
  const auto empty = osor::test::scratch_dir("osor_flux_cli_no_weights");
  const auto fixtures = osor::test::sample_images();
  const std::string cmd = std::string(OSOR_BINARY) + " remove --method osor-flux --image " +
                          (fixtures / "p01_pred.png").string() + " --mask " + (fixtures / "p01_mask.png").string() +
                          " --out " + (empty / "o.png").string() + " --weights " + empty.string() + " 2>" +
                          (empty / "err.txt").string();
  CHECK(std::system(cmd.c_str()) != 0);
  std::ifstream in(empty / "err.txt");
  const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(err.find("flux-fill/transformer/config.json") != std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
}
