// `osor eval` covers the in-tree FLUX methods: osor-flux and flux-fill run on the sample benchmark through the
// weights-folder layout (the osor_flux_e2e fixture's tiny networks, arranged as flux-fill/ + osor-flux/), every
// sample scored, none failed. Scores of random tiny networks mean nothing and are not asserted.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/cli/osor_command.h"
#include "tests/model/test_flux_fixture.h"
#include "tests/test_paths.h"

TEST_CASE("osor eval: osor-flux and flux-fill through the weights folder score every sample (osor_flux_e2e networks)") {
  const auto fx = osor::test::open_model_fixture("osor_flux_e2e");
  if (!fx) return;
  const auto weights = osor::test::arrange_osor_flux_weights(*fx);
  const auto out = osor::test::scratch_dir("cli_eval_flux");
  const auto r = osor::test::run_osor("eval --method osor-flux:long_side=64 --method flux-fill:size=32,steps=2 --weights " +
                                      weights.string() + " --metrics psnr --masks object --bootstrap 20 --limit 2 --out " +
                                      (out / "run").string());
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::ifstream in(out / "run" / "results.json");
  const auto results = nlohmann::json::parse(in);
  std::set<std::string> methods;
  for (const auto& a : results.at("aggregates")) {
    methods.insert(a.at("method").get<std::string>());
    CHECK(a.at("n").get<int>() == 2);
    CHECK(a.at("n_failed").get<int>() == 0);
  }
  CHECK(methods == std::set<std::string>{"osor-flux:long_side=64", "flux-fill:size=32,steps=2"});
}
