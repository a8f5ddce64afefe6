// Training checkpoints (model/train/checkpoint.h): a bit-exact round trip of every part of the state, the folder
// layout OSOR's loader reads, keep-last-N, torn saves ignored, and errors that name the file and the tensor.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/train/checkpoint.h"
#include "tests/test_paths.h"

using namespace osor::model::train;
namespace fs = std::filesystem;

namespace {

bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

TrainingState example_state(int64_t step) {
  at::manual_seed(step);
  TrainingState s;
  s.step = step;
  s.batch_count = 2 * step + 1;
  s.generator = {{"unet.conv_out.weight", at::randn({4, 8, 3, 3})},
                 {"unet.down_blocks.0.resnets.0.conv1.lora_A.default.weight", at::randn({2, 8, 3, 3})},
                 {"unet.down_blocks.0.resnets.0.conv1.lora_B.default.weight", at::zeros({8, 2, 1, 1})}};
  s.discriminator = {{"heads.0.0.weight_orig", at::randn({5, 3, 3, 3})},
                     {"heads.0.0.weight_u", at::randn({5}, at::kDouble)},
                     {"heads.0.0.bias", at::randn({5})}};
  s.generator_optimizer = {{"unet.conv_out.weight", {step, at::randn({4, 8, 3, 3}), at::rand({4, 8, 3, 3})}},
                           {"unet.down_blocks.0.resnets.0.conv1.lora_A.default.weight", {0, {}, {}}},
                           {"unet.down_blocks.0.resnets.0.conv1.lora_B.default.weight",
                            {step, at::randn({8, 2, 1, 1}), at::rand({8, 2, 1, 1})}}};
  s.discriminator_optimizer = {{"heads.0.0.weight_orig", {step, at::randn({5, 3, 3, 3}), at::rand({5, 3, 3, 3})}}};
  std::string blob(5056, '\0');
  std::mt19937_64 rng(step);
  for (char& c : blob) c = static_cast<char>(rng() & 0xff);
  std::ostringstream text;
  text << rng;
  s.rng = {{"torch_cpu", blob}, {"mask_sampler", text.str()}, {"empty", ""}};
  s.data_epoch = 3;
  s.data_position = 17;
  s.config_json = R"({"phase": 1, "backbone": "sdxl", "lr": 1e-05})";
  s.generator_metadata = {{"lora_alpha", "2"}, {"r", "2"}};
  return s;
}

void check_optimizer_equal(const NamedAdamWStates& a, const NamedAdamWStates& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    CHECK(a[i].second.step == b[i].second.step);
    CHECK(a[i].second.exp_avg.defined() == b[i].second.exp_avg.defined());
    if (a[i].second.exp_avg.defined()) {
      CHECK(bit_equal(a[i].second.exp_avg, b[i].second.exp_avg));
      CHECK(bit_equal(a[i].second.exp_avg_sq, b[i].second.exp_avg_sq));
    }
  }
}

void check_tensors_equal(const NamedTensors& a, const NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    CHECK(bit_equal(a[i].second, b[i].second));
  }
}

}  // namespace

TEST_CASE("checkpoint: save then load gives back every tensor, optimizer state, RNG blob and cursor bit-exactly") {
  const fs::path out = osor::test::scratch_dir("checkpoint_roundtrip");
  const TrainingState saved = example_state(1000);
  const fs::path dir = save_checkpoint(out, saved);
  CHECK(dir == out / "checkpoints" / "step-0001000");
  for (const char* f : {"state_dict.safetensors", "discriminator.safetensors", "optimizer.safetensors",
                        "trainer_state.json"})
    CHECK(fs::is_regular_file(dir / f));
  const TrainingState loaded = load_checkpoint(dir);
  CHECK(loaded.step == 1000);
  CHECK(loaded.batch_count == 2001);
  CHECK(loaded.data_epoch == 3);
  CHECK(loaded.data_position == 17);
  CHECK(loaded.rng == saved.rng);
  CHECK(loaded.generator_metadata == saved.generator_metadata);
  CHECK(nlohmann::json::parse(loaded.config_json) == nlohmann::json::parse(saved.config_json));
  check_tensors_equal(loaded.generator, saved.generator);
  check_tensors_equal(loaded.discriminator, saved.discriminator);
  check_optimizer_equal(loaded.generator_optimizer, saved.generator_optimizer);
  check_optimizer_equal(loaded.discriminator_optimizer, saved.discriminator_optimizer);

  // state_dict.safetensors holds exactly the generator's trainable tensors, fp32, under OSOR's names.
  const auto file = osor::model::SafetensorsFile::open(dir / "state_dict.safetensors");
  CHECK(file.names().size() == 3);
  CHECK(file.entry("unet.conv_out.weight").dtype == "F32");
  CHECK(file.metadata().at("lora_alpha") == "2");
  const auto opt = osor::model::SafetensorsFile::open(dir / "optimizer.safetensors");
  CHECK(opt.contains("generator.unet.conv_out.weight.exp_avg_sq"));
  CHECK(opt.contains("discriminator.heads.0.0.weight_orig.step"));
  CHECK_FALSE(opt.contains("generator.unet.down_blocks.0.resnets.0.conv1.lora_A.default.weight.exp_avg"));
}

TEST_CASE("checkpoint: restore_tensors and restore_adamw copy into live tensors, errors name file and tensor") {
  const fs::path out = osor::test::scratch_dir("checkpoint_restore");
  const TrainingState saved = example_state(7);
  const fs::path dir = save_checkpoint(out, saved);
  const TrainingState loaded = load_checkpoint(dir);

  NamedTensors live;
  for (const auto& [name, t] : saved.generator) live.emplace_back(name, at::zeros_like(t).requires_grad_(true));
  restore_tensors("state_dict.safetensors", live, loaded.generator);
  for (size_t i = 0; i < live.size(); ++i) CHECK(bit_equal(live[i].second.detach(), saved.generator[i].second));
  AdamW optimizer(live);
  restore_adamw("optimizer.safetensors", optimizer, loaded.generator_optimizer);
  check_optimizer_equal(adamw_states(optimizer), saved.generator_optimizer);

  NamedTensors wrong_shape = live;
  wrong_shape[0].second = at::zeros({4, 9, 3, 3});
  CHECK_THROWS_WITH_AS(restore_tensors("x/state_dict.safetensors", wrong_shape, loaded.generator),
                       doctest::Contains("x/state_dict.safetensors: tensor 'unet.conv_out.weight' has shape [4, 8, 3, 3], "
                                         "expected [4, 9, 3, 3]"),
                       osor::ModelError);
  NamedTensors extra = live;
  extra.emplace_back("unet.conv_out.bias", at::zeros({4}));
  CHECK_THROWS_WITH_AS(restore_tensors("x/state_dict.safetensors", extra, loaded.generator),
                       doctest::Contains("has no tensor 'unet.conv_out.bias'"), osor::ModelError);
  NamedTensors fewer(live.begin(), live.end() - 1);
  CHECK_THROWS_WITH_AS(restore_tensors("x/state_dict.safetensors", fewer, loaded.generator),
                       doctest::Contains("unexpected tensor 'unet.down_blocks.0.resnets.0.conv1.lora_B"),
                       osor::ModelError);
}

TEST_CASE("checkpoint: keep-last-N deletes the oldest after the new one is in place, torn saves are ignored") {
  const fs::path out = osor::test::scratch_dir("checkpoint_keep_last");
  CHECK_FALSE(latest_checkpoint(out).has_value());
  for (int64_t step : {1, 1000, 2000, 3000}) save_checkpoint(out, example_state(step), 2);
  const auto all = complete_checkpoints(out);
  REQUIRE(all.size() == 2);
  CHECK(all[0].filename() == "step-0002000");
  CHECK(all[1].filename() == "step-0003000");

  // A save killed before its rename (temporary folder), and one whose folder lacks trainer_state.json, are never
  // picked up: the newest complete checkpoint stays 3000.
  const fs::path torn = out / "checkpoints" / ".step-0004000.tmp99999";
  fs::create_directories(torn);
  std::ofstream(torn / "trainer_state.json") << "{}";
  fs::create_directories(out / "checkpoints" / "step-0005000");
  std::ofstream(out / "checkpoints" / "step-0005000" / "state_dict.safetensors") << "x";
  REQUIRE(latest_checkpoint(out).has_value());
  CHECK(latest_checkpoint(out)->filename() == "step-0003000");
  CHECK(load_checkpoint(*latest_checkpoint(out)).step == 3000);
  // The next save deletes the leftover temporary folder.
  save_checkpoint(out, example_state(4000), 2);
  CHECK_FALSE(fs::exists(torn));
  CHECK(latest_checkpoint(out)->filename() == "step-0004000");
  CHECK(complete_checkpoints(out).size() == 2);
  // Saving the same step again replaces that checkpoint.
  TrainingState again = example_state(4000);
  again.batch_count = 42;
  save_checkpoint(out, again, 2);
  CHECK(load_checkpoint(*latest_checkpoint(out)).batch_count == 42);
}

TEST_CASE("checkpoint: loading a damaged checkpoint names the file and the problem") {
  const fs::path out = osor::test::scratch_dir("checkpoint_errors");
  const fs::path dir = save_checkpoint(out, example_state(5));
  fs::remove(dir / "discriminator.safetensors");
  CHECK_THROWS_WITH_AS(load_checkpoint(dir), doctest::Contains("discriminator.safetensors: missing"), osor::ModelError);

  const fs::path dir2 = save_checkpoint(out, example_state(6));
  std::ofstream(dir2 / "trainer_state.json") << R"({"format": "osor-training-checkpoint", "version": 1, "step": 6})";
  CHECK_THROWS_WITH_AS(load_checkpoint(dir2), doctest::Contains("trainer_state.json: missing or malformed field"),
                       osor::ModelError);

  // Optimizer state for a parameter the checkpoint does not hold.
  TrainingState bad = example_state(8);
  bad.generator_optimizer.push_back({"unet.conv_in.weight", {1, at::zeros({2}), at::zeros({2})}});
  const fs::path dir3 = save_checkpoint(out, bad);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir3),
                       doctest::Contains("optimizer.safetensors: optimizer state for 'generator.unet.conv_in.weight'"),
                       osor::ModelError);

  TrainingState bad_config = example_state(9);
  bad_config.config_json = "{not json";
  CHECK_THROWS_WITH_AS(save_checkpoint(out, bad_config), doctest::Contains("config is not valid JSON"),
                       osor::ModelError);
}

TEST_CASE("checkpoint: the CPU generator and an mt19937_64 continue identically after a save and load") {
  const fs::path out = osor::test::scratch_dir("checkpoint_rng");
  at::manual_seed(123);
  (void)at::randn({7});  // leaves a cached normal behind in the generator
  std::mt19937_64 sampler(99);
  sampler.discard(5);
  TrainingState s = example_state(11);
  s.rng = {{"torch_cpu", cpu_generator_state()}, {"mask_sampler", mt19937_64_state(sampler)}};
  const at::Tensor expected = at::randn({5}, at::kDouble);
  const uint64_t expected_draw = sampler();
  const TrainingState loaded = load_checkpoint(save_checkpoint(out, s));
  at::manual_seed(0);
  std::mt19937_64 restored;
  set_cpu_generator_state(loaded.rng.at("torch_cpu"));
  set_mt19937_64_state(restored, loaded.rng.at("mask_sampler"), "mask_sampler");
  CHECK(bit_equal(at::randn({5}, at::kDouble), expected));
  CHECK(restored() == expected_draw);
  CHECK_THROWS_WITH_AS(set_mt19937_64_state(restored, "12 x", "mask_sampler"),
                       doctest::Contains("rng blob 'mask_sampler' is not an mt19937_64 state"), osor::ModelError);
}
