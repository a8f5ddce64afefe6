// The one diffusers config.json reader (model/io/diffusers_config.h) and its four users: typed values with
// defaults for absent and null keys, and errors that name the file and the key.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/error.h"
#include "model/io/diffusers_config.h"
#include "model/schedulers/ddpm.h"
#include "model/schedulers/euler_discrete.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/test_paths.h"

using osor::ModelError;
using osor::model::DiffusersConfig;

namespace {

DiffusersConfig unet_config(const std::string& text) {
  return DiffusersConfig::parse(text, "UNet config", "unet/config.json");
}

}  // namespace

TEST_CASE("diffusers config: typed values, and the default for an absent or null key") {
  const auto c = unet_config(R"({"a": 3, "b": 2.5, "c": true, "d": "x", "e": [1, 2], "f": ["p", "q"], "n": null,
                                 "g": 32.0})");
  CHECK(c.get("a", int64_t{0}) == 3);
  CHECK(c.get("a", 0.0) == 3.0);  // an integer is a number
  CHECK(c.get("b", 0.0) == 2.5);
  CHECK(c.get("c", false));
  CHECK(c.get<std::string>("d", "") == "x");
  const std::vector<int64_t> e{1, 2};
  CHECK(c.get<std::vector<int64_t>>("e", {}) == e);
  const std::vector<std::string> f{"p", "q"};
  CHECK(c.get<std::vector<std::string>>("f", {}) == f);
  CHECK(c.get("g", int64_t{0}) == 32);  // an integral float is an integer
  CHECK(c.get("n", int64_t{7}) == 7);   // null: the default, as diffusers' None
  CHECK(c.get("absent", int64_t{7}) == 7);
  CHECK_FALSE(c.has("n"));
  CHECK(c.is_null("n"));
  CHECK_FALSE(c.is_null("absent"));
  CHECK(c.is_list("e"));
  CHECK_FALSE(c.is_list("a"));
  CHECK_FALSE(c.get_optional<double>("n").has_value());
  CHECK(c.get_optional<double>("b") == 2.5);
  CHECK(c.require<int64_t>("a") == 3);
  CHECK(c.source() == "unet/config.json");
}

TEST_CASE("diffusers config: a value of the wrong type or a missing required key names the file and the key") {
  const auto c = unet_config(R"({"block_out_channels": [320, "640"], "s": "x", "h": 2.5, "n": null, "l": [[1]]})");
  CHECK_THROWS_WITH_AS(c.get<std::vector<int64_t>>("block_out_channels", {}),
                       "UNet config unet/config.json: block_out_channels must be a list of integers", ModelError);
  CHECK_THROWS_WITH_AS(c.get("s", int64_t{0}), "UNet config unet/config.json: s must be an integer", ModelError);
  CHECK_THROWS_WITH_AS(c.get("h", int64_t{0}), "UNet config unet/config.json: h must be an integer", ModelError);
  CHECK_THROWS_WITH_AS(c.get("s", 0.0), "UNet config unet/config.json: s must be a number", ModelError);
  CHECK_THROWS_WITH_AS(c.get("s", false), "UNet config unet/config.json: s must be true or false", ModelError);
  CHECK_THROWS_WITH_AS(c.get<std::string>("h", ""), "UNet config unet/config.json: h must be a string", ModelError);
  CHECK_THROWS_WITH_AS(c.get<std::vector<std::string>>("l", {}),
                       "UNet config unet/config.json: l must be a list of strings", ModelError);
  CHECK_THROWS_WITH_AS(c.require<int64_t>("n"), "UNet config unet/config.json: n is required", ModelError);
  CHECK_THROWS_WITH_AS(c.require<int64_t>("absent"), "UNet config unet/config.json: absent is required", ModelError);

  CHECK_THROWS_WITH_AS(unet_config("{\"a\": "), doctest::Contains("UNet config unet/config.json: not valid JSON ("),
                       ModelError);
  CHECK_THROWS_WITH_AS(unet_config("[1, 2]"), "UNet config unet/config.json: not a JSON object of settings",
                       ModelError);
  const auto missing = osor::test::scratch_dir("diffusers_config") / "config.json";
  const std::string unreadable = "VAE config " + missing.string() + ": cannot read the file";
  CHECK_THROWS_WITH_AS(DiffusersConfig::read(missing, "VAE config"), unreadable.c_str(), ModelError);
}

TEST_CASE("diffusers config: per-block settings, choices, unsupported values and the class name") {
  const auto c = unet_config(R"({"one": 4, "three": [1, 2, 3], "two": [1, 2], "nested": [[1], 2, 3],
    "schedule": "cosine", "flag": false, "scale": 1.0, "act_fn": "gelu", "_class_name": "DDIMScheduler"})");
  const std::vector<int64_t> fours{4, 4, 4}, one_two_three{1, 2, 3}, eights{8, 8, 8};
  CHECK(c.per_block("one", 3, 8) == fours);
  CHECK(c.per_block("three", 3, 8) == one_two_three);
  CHECK(c.per_block("absent", 3, 8) == eights);
  CHECK_THROWS_WITH_AS(c.per_block("two", 3, 8), "UNet config unet/config.json: two must be an integer or a list of 3",
                       ModelError);
  CHECK_THROWS_WITH_AS(c.per_block("nested", 3, 8),
                       "UNet config unet/config.json: nested entries must be integers (nested lists are not supported)",
                       ModelError);

  CHECK(c.choice("absent", "linear", {"linear", "scaled_linear"}) == "linear");
  CHECK_THROWS_WITH_AS(c.choice("schedule", "linear", {"linear", "scaled_linear"}),
                       "UNet config unet/config.json: schedule cosine is not supported (linear, scaled_linear)",
                       ModelError);

  c.expect_one_of("flag", {"false"});  // a non-string value is compared as its JSON text
  c.expect_one_of("scale", {"1", "1.0"});
  c.expect_one_of("absent", {});
  CHECK_THROWS_WITH_AS(c.expect_one_of("act_fn", {"silu"}),
                       "UNet config unet/config.json: act_fn gelu is not supported", ModelError);
  CHECK_THROWS_WITH_AS(c.expect_one_of("flag", {}, " (only null)"),
                       "UNet config unet/config.json: flag false is not supported (only null)", ModelError);

  CHECK_THROWS_WITH_AS(c.expect_class("EulerDiscreteScheduler"),
                       "UNet config unet/config.json: _class_name is \"DDIMScheduler\", "
                       "expected EulerDiscreteScheduler",
                       ModelError);
  unet_config("{}").expect_class("EulerDiscreteScheduler");  // no _class_name: nothing to check
}

TEST_CASE("diffusers config: the UNet, VAE and scheduler readers name the file and key of a mistyped setting") {
  CHECK_THROWS_WITH_AS(osor::model::UNetConfig::from_json(R"({"block_out_channels": "320"})", "unet/config.json"),
                       "UNet config unet/config.json: block_out_channels must be a list of integers", ModelError);
  CHECK_THROWS_WITH_AS(osor::model::UNetConfig::from_json(R"({"cross_attention_dim": [768, 768, 768]})", "u.json"),
                       "UNet config u.json: a per-block cross_attention_dim is not supported", ModelError);
  CHECK_THROWS_WITH_AS(osor::model::VaeConfig::from_json(R"({"scaling_factor": "0.13"})", "vae/config.json"),
                       "VAE config vae/config.json: scaling_factor must be a number", ModelError);
  CHECK_THROWS_WITH_AS(osor::model::DdpmScheduleConfig::from_json(R"({"clip_sample": "no"})", "s.json"),
                       "scheduler config s.json: clip_sample must be true or false", ModelError);
  CHECK_THROWS_WITH_AS(osor::model::EulerDiscreteConfig::from_json(R"({"steps_offset": 1.5})", "s.json"),
                       "scheduler config s.json: steps_offset must be an integer", ModelError);
  CHECK_THROWS_WITH_AS(osor::model::DdpmScheduleConfig::from_json(R"({"trained_betas": [0.1, 0.2]})", "s.json"),
                       "scheduler config s.json: trained_betas is not supported", ModelError);
}

TEST_CASE("diffusers config: VaeConfig reads force_upcast (default true) and a null shift_factor is unset") {
  CHECK(osor::model::VaeConfig::from_json("{}", "v").force_upcast);
  CHECK_FALSE(osor::model::VaeConfig::from_json(R"({"force_upcast": false})", "v").force_upcast);
  const auto c = osor::model::VaeConfig::from_json(R"({"shift_factor": null, "scaling_factor": 0.3611})", "v");
  CHECK_FALSE(c.shift_factor.has_value());
  CHECK(c.scaling_factor == 0.3611);
  CHECK(osor::model::VaeConfig::from_json(R"({"shift_factor": 0.1159})", "v").shift_factor == 0.1159);
}
