// The networks and optimizer settings the trainer fixtures (../shared/conformance/train) use: the tiny SDXL UNet
// and VAE of ../model, the fixture's scheduler, LPIPS-VGG with the formula trunk, and OSOR's optimizers started
// from the fixture's resumed state (train/README.md §2, §3).
#pragma once

#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "metrics/networks/lpips_net.h"
#include "model/io/safetensors.h"
#include "model/schedulers/ddpm.h"
#include "model/train/adamw.h"
#include "model/train/discriminator.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "tests/metrics/inception_formula_weights.h"
#include "tests/test_paths.h"
#include "tests/train/train_fixture.h"

namespace osor::test {

inline nlohmann::json model_config(const std::filesystem::path& json_file) {
  return nlohmann::json::parse(std::ifstream(json_file)).at("config");
}

inline std::unique_ptr<model::AutoencoderKL> fixture_vae(const std::filesystem::path& model_dir,
                                                         at::ScalarType dtype = at::kFloat) {
  const auto json_file = model_dir / "sdxl_vae.json";
  auto vae = std::make_unique<model::AutoencoderKL>(model::VaeConfig::from_json(model_config(json_file).dump(), json_file.string()),
                                                    at::TensorOptions().dtype(dtype));
  vae->load({model_dir / "sdxl_vae.weights.safetensors"});
  return vae;
}

inline std::unique_ptr<model::UNet2DConditionModel> fixture_unet(const std::filesystem::path& model_dir,
                                                                 at::ScalarType dtype = at::kFloat) {
  const auto json_file = model_dir / "sdxl_unet.json";
  auto unet = std::make_unique<model::UNet2DConditionModel>(
      model::UNetConfig::from_json(model_config(json_file).dump(), json_file.string()), at::TensorOptions().dtype(dtype));
  unet->load({model_dir / "sdxl_unet.weights.safetensors"});
  return unet;
}

inline std::unique_ptr<model::DdpmSchedule> fixture_schedule(const TrainFixture& fx) {
  return std::make_unique<model::DdpmSchedule>(model::DdpmScheduleConfig::from_json(
      fx.json.at("models").at("scheduler_config").dump(), (fx.dir / (fx.json.at("fixture").get<std::string>() + ".json")).string()));
}

// config.optimizer of a train_phase fixture.
inline model::train::AdamWOptions fixture_adamw_options(const nlohmann::json& opt) {
  model::train::AdamWOptions o;
  o.lr = opt.at("lr").get<double>();
  o.beta1 = opt.at("betas").at(0).get<double>();
  o.beta2 = opt.at("betas").at(1).get<double>();
  o.eps = opt.at("eps").get<double>();
  o.weight_decay = opt.at("weight_decay").get<double>();
  return o;
}

// OSOR's optimizers as the fixture starts them: every parameter resumed at `step` with constant moments
// (`which`: "G" or "D").
inline void resume_optimizer(model::train::AdamW& opt, const nlohmann::json& initial, const std::string& which) {
  for (const auto& [name, p] : opt.params())
    opt.state(name) = {initial.at("step").get<int64_t>(), at::full_like(p, initial.at("exp_avg").get<double>()),
                       at::full_like(p, initial.at("exp_avg_sq").at(which).get<double>())};
}

// The losses fixture's LPIPS-VGG as one safetensors file under LpipsNet's names: the trunk's conv weights from the
// formula (salt and gain from the JSON, each checked against its SHA-256), biases and lin layers as stored.
inline std::filesystem::path lpips_vgg_weights(const TrainFixture& losses) {
  const auto& spec = losses.json.at("lpips_vgg");
  const auto stored = model::SafetensorsFile::open(losses.dir / spec.at("weights_file").get<std::string>());
  const auto& formula = spec.at("formula");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [key, t] : spec.at("tensors").items()) {
    const at::Tensor w = formula_conv_weight(key, t.at("shape").get<std::vector<int64_t>>(), formula.at("gain").get<double>(),
                                             formula.at("salt").get<std::string>());
    REQUIRE_MESSAGE(sha256_hex(static_cast<const uint8_t*>(w.data_ptr()), w.numel() * 4) ==
                        t.at("sha256_f32le").get<std::string>(), key << ": formula weights differ from the fixture's hash");
    std::string lpips_bias = t.at("lpips_key").get<std::string>();
    lpips_bias.replace(lpips_bias.size() - 6, 6, "bias");
    tensors.emplace_back(key, w);
    tensors.emplace_back(key.substr(0, key.size() - 6) + "bias", stored.tensor(lpips_bias));
  }
  for (const auto& name : stored.names())
    if (name.rfind("lin", 0) == 0 && name.rfind("lins.", 0) != 0) tensors.emplace_back(name, stored.tensor(name));
  const auto path = process_scratch_dir("lpips_vgg") / "lpips_vgg.safetensors";
  model::write_safetensors(path, tensors);
  return path;
}

inline metrics::LpipsNet fixture_lpips_vgg(const std::filesystem::path& conformance_root) {
  const TrainFixture losses(conformance_root, "losses");
  const auto path = lpips_vgg_weights(losses);
  auto net = metrics::LpipsNet::load(metrics::LpipsTrunk::Vgg, {path}, c10::Device(c10::kCPU));
  std::filesystem::remove(path);
  return net;
}

// Checks every spectral-norm buffer of `d` against "<prefix>{u,v}.<module>" (e.g. "d1.sn.D0.").
inline void check_sn_buffers(TrainFixture& fx, model::train::Discriminator& d, const std::string& prefix) {
  for (const auto& item : d.module().named_buffers()) {
    const std::string& n = item.key();
    for (const std::string which : {"u", "v"})
      if (n.size() > 9 && n.compare(n.size() - 9, 9, ".weight_" + which) == 0)
        fx.check(prefix + which + "." + n.substr(0, n.size() - 9), item.value());
  }
}

}  // namespace osor::test
