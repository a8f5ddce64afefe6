// Shared by the FLUX transformer tests: the flux_fill / flux_fill_osor fixtures' transformer inputs and the
// tolerance rule their JSON states (atol_strict when the port's float32 sinusoids equal the reference's traces).
#pragma once

#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <string>

#include "model/flux/flux_transformer.h"
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

// `tolerance.atol_strict` when this port's float32 sinusoidal projections of the timestep and the guidance equal
// the reference's (`trace` fixture: flux_fill, which stores trace.time_text_embed.time_proj[@1]) within the bound
// `tolerance.atol_strict_applies_when` states; `tolerance.atol` otherwise.
inline double flux_fixture_atol(const ModelFixture& fx, const ModelFixture& trace) {
  const auto& tol = fx.json.at("tolerance");
  const model::FluxTransformerInputs in = flux_fixture_inputs(trace);
  double err = max_abs_diff(model::FluxTransformer2DModel::time_projection(in.timestep, at::kFloat),
                            trace.tensor("trace.time_text_embed.time_proj"));
  if (in.guidance.defined())
    err = std::max(err, max_abs_diff(model::FluxTransformer2DModel::time_projection(in.guidance, at::kFloat),
                                     trace.tensor("trace.time_text_embed.time_proj@1")));
  const auto& strict_when = trace.json.at("tolerance").at("atol_strict_applies_when");
  const double bound = tolerance_in_words(strict_when.get<std::string>());
  const bool strict = err <= bound;
  MESSAGE(fx.name << ": sinusoids max|err| " << err << " vs the reference's float32 ones (strict tolerance when <= "
                  << bound << ")");
  return tol.at(strict ? "atol_strict" : "atol").get<double>();
}

}  // namespace osor::test
