// Shared by the FLUX transformer tests: the flux_fill / flux_fill_osor fixtures' transformer inputs and the
// tolerance rule their JSON states (atol_strict when the port's float32 sinusoids equal the reference's traces).
#pragma once

#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model/flux/flux_transformer.h"
#include "model/io/prompt_cache.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/model/test_osor_fixture.h"

namespace osor::test {

// The inputs of diffusers' call tf(hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids,
// txt_ids, guidance) as the fixture stores them (guidance only where the fixture has one).
inline model::FluxTransformerInputs flux_fixture_inputs(const ModelFixture& fx) {
  model::FluxTransformerInputs in;
  in.hidden_states = fx.tensor("hidden_states");
  in.encoder_hidden_states = fx.tensor("encoder_hidden_states");
  in.pooled_projections = fx.tensor("pooled_projections");
  in.timestep = fx.tensor("timestep");
  in.img_ids = fx.tensor("img_ids");
  in.txt_ids = fx.tensor("txt_ids");
  if (fx.io.contains("guidance")) in.guidance = fx.tensor("guidance");
  return in;
}

// Whether this port's float32 sinusoidal projections of the timestep and the guidance equal the reference's
// (`trace` fixture: flux_fill, which stores trace.time_text_embed.time_proj[@1]) within the bound its
// `tolerance.atol_strict_applies_when` states: the condition under which the fixtures' atol_strict apply.
inline bool flux_sinusoids_match(const ModelFixture& trace) {
  const model::FluxTransformerInputs in = flux_fixture_inputs(trace);
  double err = max_abs_diff(model::FluxTransformer2DModel::time_projection(in.timestep, at::kFloat),
                            trace.tensor("trace.time_text_embed.time_proj"));
  if (in.guidance.defined())
    err = std::max(err, max_abs_diff(model::FluxTransformer2DModel::time_projection(in.guidance, at::kFloat),
                                     trace.tensor("trace.time_text_embed.time_proj@1")));
  const auto& strict_when = trace.json.at("tolerance").at("atol_strict_applies_when");
  const double bound = tolerance_in_words(strict_when.get<std::string>());
  MESSAGE(trace.name << ": sinusoids max|err| " << err << " vs the reference's float32 ones (strict tolerance when <= "
                     << bound << ")");
  return err <= bound;
}

// `tolerance.atol_strict` when this port's float32 sinusoidal projections of the timestep and the guidance equal
// the reference's (`trace` fixture: flux_fill, which stores trace.time_text_embed.time_proj[@1]) within the bound
// `tolerance.atol_strict_applies_when` states; `tolerance.atol` otherwise.
inline double flux_fixture_atol(const ModelFixture& fx, const ModelFixture& trace) {
  return fx.json.at("tolerance").at(flux_sinusoids_match(trace) ? "atol_strict" : "atol").get<double>();
}

// The first word of a fixture JSON's "<x>_fixture" entry ("flux_fill (+ flux_fill_osor.state_dict.pth)" → flux_fill).
inline std::string named_fixture(const ModelFixture& fx, const std::string& key) {
  const std::string text = fx.json.at(key).get<std::string>();
  return text.substr(0, text.find(' '));
}

// Arranges an OSOR-FLUX end-to-end fixture (osor_flux_e2e) as a weights directory: flux-fill/{transformer,vae,
// scheduler}/ from the fixtures its JSON names (transformer_fixture, vae_fixture, scheduler_config) and
// osor-flux/state_dict.safetensors converted from the OSOR checkpoint .pth the transformer entry names, and
// osor-flux/prompt_embeds.safetensors holding the tensors of <fixture>.prompt_embeds.pt.
inline std::filesystem::path arrange_osor_flux_weights(const ModelFixture& e2e) {
  const auto dir = process_scratch_dir(e2e.name + "_weights");
  const std::string tf = named_fixture(e2e, "transformer_fixture"), vae = named_fixture(e2e, "vae_fixture");
  const auto config_of = [&](const std::string& name) {
    return nlohmann::json::parse(std::ifstream(e2e.dir / (name + ".json"))).at("config").dump();
  };
  write_fixture_text(dir / "flux-fill/transformer/config.json", config_of(tf));
  write_fixture_text(dir / "flux-fill/vae/config.json", config_of(vae));
  write_fixture_text(dir / "flux-fill/scheduler/scheduler_config.json", e2e.json.at("scheduler_config").dump());
  std::filesystem::copy_file(e2e.dir / (tf + ".weights.safetensors"),
                             dir / "flux-fill/transformer/diffusion_pytorch_model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(e2e.dir / (vae + ".weights.safetensors"),
                             dir / "flux-fill/vae/diffusion_pytorch_model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::create_directories(dir / "osor-flux");
  // The transformer entry names OSOR's checkpoint as "(+ <name>.state_dict.pth)": its safetensors twin.
  const std::string text = e2e.json.at("transformer_fixture").get<std::string>();
  const auto plus = text.find("(+ "), end = text.find(".state_dict.pth");
  REQUIRE_MESSAGE((plus != std::string::npos && end != std::string::npos), "transformer_fixture: " << text);
  const std::string osor = text.substr(plus + 3, end - plus - 3);
  std::filesystem::copy_file(e2e.dir / (osor + ".lora.safetensors"), dir / "osor-flux/state_dict.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  const auto prompt = model::read_prompt_cache(e2e.file(".prompt_embeds.pt"));
  model::write_safetensors(dir / "osor-flux/prompt_embeds.safetensors",
                           {{"prompt_embeds", prompt.prompt_embeds}, {"pooled_prompt_embeds", prompt.pooled_prompt_embeds}});
  return dir;
}

}  // namespace osor::test
