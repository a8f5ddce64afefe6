#include "metrics/networks/dinov2.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "metrics/error.h"
#include "metrics/networks/inference_setup.h"
#include "model/error.h"
#include "model/io/module_weights.h"
#include "model/nn/attention.h"

namespace osor::metrics {

namespace nn = torch::nn;

namespace {

struct Dinov2SelfAttentionImpl : nn::Module {
  Dinov2SelfAttentionImpl(int64_t hidden, int64_t heads, bool bias) : num_heads(heads) {
    query = register_module("query", nn::Linear(nn::LinearOptions(hidden, hidden).bias(bias)));
    key = register_module("key", nn::Linear(nn::LinearOptions(hidden, hidden).bias(bias)));
    value = register_module("value", nn::Linear(nn::LinearOptions(hidden, hidden).bias(bias)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), d = x.size(2);
    auto split = [&](const torch::Tensor& y) { return y.view({b, -1, num_heads, d / num_heads}).transpose(1, 2); };
    // transformers 4.57 runs "sdpa": softmax(q·kᵀ·d^-½)·v in the input dtype.
    const torch::Tensor o = model::nn::scaled_dot_product_attention(split(query(x)), split(key(x)), split(value(x)));
    return o.transpose(1, 2).reshape({b, -1, d});
  }
  int64_t num_heads;
  nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
};
TORCH_MODULE(Dinov2SelfAttention);

struct Dinov2SelfOutputImpl : nn::Module {
  explicit Dinov2SelfOutputImpl(int64_t hidden) { dense = register_module("dense", nn::Linear(hidden, hidden)); }
  nn::Linear dense{nullptr};
};
TORCH_MODULE(Dinov2SelfOutput);

struct Dinov2AttentionImpl : nn::Module {
  explicit Dinov2AttentionImpl(const Dinov2Config& c) {
    attention = register_module("attention", Dinov2SelfAttention(c.hidden_size, c.num_attention_heads, c.qkv_bias));
    output = register_module("output", Dinov2SelfOutput(c.hidden_size));
  }
  torch::Tensor forward(const torch::Tensor& x) { return output->dense(attention(x)); }
  Dinov2SelfAttention attention{nullptr};
  Dinov2SelfOutput output{nullptr};
};
TORCH_MODULE(Dinov2Attention);

struct Dinov2LayerScaleImpl : nn::Module {
  Dinov2LayerScaleImpl(int64_t hidden, double init) {
    lambda1 = register_parameter("lambda1", torch::full({hidden}, init));
  }
  torch::Tensor lambda1;
};
TORCH_MODULE(Dinov2LayerScale);

// Dinov2SwiGLUFFN (weights_in → silu(a)·b → weights_out) or Dinov2MLP (fc1 → act → fc2).
struct Dinov2MlpImpl : nn::Module {
  explicit Dinov2MlpImpl(const Dinov2Config& c) : swiglu(c.use_swiglu_ffn), act(c.hidden_act) {
    const int64_t d = c.hidden_size;
    const int64_t h = static_cast<int64_t>(static_cast<double>(d) * c.mlp_ratio);
    if (swiglu) {
      const int64_t hs = (static_cast<int64_t>(static_cast<double>(h) * 2 / 3) + 7) / 8 * 8;
      weights_in = register_module("weights_in", nn::Linear(d, 2 * hs));
      weights_out = register_module("weights_out", nn::Linear(hs, d));
    } else {
      fc1 = register_module("fc1", nn::Linear(d, h));
      fc2 = register_module("fc2", nn::Linear(h, d));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (swiglu) {
      const auto ab = weights_in(x).chunk(2, -1);
      return weights_out(torch::silu(ab[0]) * ab[1]);
    }
    torch::Tensor y = fc1(x);
    y = act == "gelu" ? torch::gelu(y) : act == "relu" ? torch::relu(y) : torch::silu(y);
    return fc2(y);
  }
  bool swiglu;
  std::string act;
  nn::Linear weights_in{nullptr}, weights_out{nullptr}, fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Dinov2Mlp);

struct Dinov2LayerImpl : nn::Module {
  explicit Dinov2LayerImpl(const Dinov2Config& c) {
    const auto ln = nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
    norm1 = register_module("norm1", nn::LayerNorm(ln));
    attention = register_module("attention", Dinov2Attention(c));
    layer_scale1 = register_module("layer_scale1", Dinov2LayerScale(c.hidden_size, c.layerscale_value));
    norm2 = register_module("norm2", nn::LayerNorm(ln));
    mlp = register_module("mlp", Dinov2Mlp(c));
    layer_scale2 = register_module("layer_scale2", Dinov2LayerScale(c.hidden_size, c.layerscale_value));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + attention(norm1(x)) * layer_scale1->lambda1;
    return x + mlp(norm2(x)) * layer_scale2->lambda1;
  }
  nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Dinov2Attention attention{nullptr};
  Dinov2LayerScale layer_scale1{nullptr}, layer_scale2{nullptr};
  Dinov2Mlp mlp{nullptr};
};
TORCH_MODULE(Dinov2Layer);

struct Dinov2PatchEmbeddingsImpl : nn::Module {
  explicit Dinov2PatchEmbeddingsImpl(const Dinov2Config& c) {
    projection = register_module(
        "projection", nn::Conv2d(nn::Conv2dOptions(3, c.hidden_size, c.patch_size).stride(c.patch_size)));
  }
  nn::Conv2d projection{nullptr};
};
TORCH_MODULE(Dinov2PatchEmbeddings);

struct Dinov2EmbeddingsImpl : nn::Module {
  explicit Dinov2EmbeddingsImpl(const Dinov2Config& c) : patch(c.patch_size), grid(c.image_size / c.patch_size) {
    cls_token = register_parameter("cls_token", torch::randn({1, 1, c.hidden_size}));
    mask_token = register_parameter("mask_token", torch::zeros({1, c.hidden_size}));
    patch_embeddings = register_module("patch_embeddings", Dinov2PatchEmbeddings(c));
    position_embeddings = register_parameter("position_embeddings", torch::randn({1, grid * grid + 1, c.hidden_size}));
  }
  // Dinov2Embeddings.interpolate_pos_encoding for an H×W input.
  torch::Tensor positions(int64_t height, int64_t width) const {
    const int64_t gh = height / patch, gw = width / patch, d = position_embeddings.size(2);
    if (gh * gw == grid * grid && height == width) return position_embeddings;
    const torch::Tensor table = position_embeddings.slice(1, 1).reshape({1, grid, grid, d}).permute({0, 3, 1, 2});
    auto options = nn::functional::InterpolateFuncOptions().mode(torch::kBicubic).align_corners(false);
    if (legacy)
      options.scale_factor(std::vector<double>{(static_cast<double>(gh) + 0.1) / static_cast<double>(grid),
                                               (static_cast<double>(gw) + 0.1) / static_cast<double>(grid)})
          .recompute_scale_factor(false);
    else
      options.size(std::vector<int64_t>{gh, gw});
    const torch::Tensor resized = nn::functional::interpolate(table.to(torch::kFloat), options)
                                      .to(position_embeddings.scalar_type())
                                      .permute({0, 2, 3, 1})
                                      .reshape({1, -1, d});
    return torch::cat({position_embeddings.slice(1, 0, 1), resized}, 1);
  }
  torch::Tensor forward(const torch::Tensor& pixels) {
    const torch::Tensor x = patch_embeddings->projection(pixels).flatten(2).transpose(1, 2);
    const torch::Tensor cls = cls_token.expand({pixels.size(0), 1, -1});
    return torch::cat({cls, x}, 1) + positions(pixels.size(2), pixels.size(3));
  }
  int64_t patch, grid;
  bool legacy = false;
  torch::Tensor cls_token, mask_token, position_embeddings;
  Dinov2PatchEmbeddings patch_embeddings{nullptr};
};
TORCH_MODULE(Dinov2Embeddings);

struct Dinov2EncoderImpl : nn::Module {
  explicit Dinov2EncoderImpl(const Dinov2Config& c) {
    layer = register_module("layer", nn::ModuleList());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(Dinov2Layer(c));
  }
  nn::ModuleList layer{nullptr};
};
TORCH_MODULE(Dinov2Encoder);

struct Dinov2ModelImpl : nn::Module {
  explicit Dinov2ModelImpl(const Dinov2Config& c) {
    embeddings = register_module("embeddings", Dinov2Embeddings(c));
    encoder = register_module("encoder", Dinov2Encoder(c));
    layernorm = register_module("layernorm", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  }
  torch::Tensor forward(const torch::Tensor& pixels, std::vector<std::pair<std::string, torch::Tensor>>* taps = nullptr) {
    torch::Tensor h = embeddings(pixels);
    if (taps) taps->emplace_back("embeddings", h);
    size_t i = 0;
    for (const auto& l : *encoder->layer) {
      h = l->as<Dinov2LayerImpl>()->forward(h);
      if (taps) taps->emplace_back("encoder.layer." + std::to_string(i++), h);
    }
    h = layernorm(h);
    if (taps) taps->emplace_back("last_hidden_state", h);
    return h;
  }
  Dinov2Embeddings embeddings{nullptr};
  Dinov2Encoder encoder{nullptr};
  nn::LayerNorm layernorm{nullptr};
};
TORCH_MODULE(Dinov2Model);

void check_config(const Dinov2Config& c, const std::string& label) {
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
    throw ModelError("DINOv2 config " + label + ": hidden_size must be a positive multiple of num_attention_heads");
  if (c.patch_size <= 0 || c.image_size < c.patch_size)
    throw ModelError("DINOv2 config " + label + ": image_size must be at least patch_size (both positive)");
  if (c.num_hidden_layers < 0 || c.mlp_ratio <= 0)
    throw ModelError("DINOv2 config " + label + ": num_hidden_layers and mlp_ratio must be positive");
  if (!c.use_swiglu_ffn && c.hidden_act != "gelu" && c.hidden_act != "relu" && c.hidden_act != "silu")
    throw ModelError("DINOv2 config " + label + ": hidden_act '" + c.hidden_act + "' is not supported (gelu, relu, silu)");
}

}  // namespace

Dinov2Config Dinov2Config::from_json_text(const std::string& text, const std::string& label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("DINOv2 config " + label + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw ModelError("DINOv2 config " + label + ": not a JSON object");
  Dinov2Config c;  // transformers' Dinov2Config defaults for absent fields
  try {
    c.hidden_size = j.value("hidden_size", int64_t{768});
    c.num_hidden_layers = j.value("num_hidden_layers", int64_t{12});
    c.num_attention_heads = j.value("num_attention_heads", int64_t{12});
    c.patch_size = j.value("patch_size", int64_t{14});
    c.image_size = j.value("image_size", int64_t{224});
    c.mlp_ratio = j.value("mlp_ratio", 4.0);
    c.use_swiglu_ffn = j.value("use_swiglu_ffn", false);
    c.qkv_bias = j.value("qkv_bias", true);
    c.layer_norm_eps = j.value("layer_norm_eps", 1e-6);
    c.layerscale_value = j.value("layerscale_value", 1.0);
    c.hidden_act = j.value("hidden_act", std::string("gelu"));
    if (j.value("num_channels", int64_t{3}) != 3) throw ModelError("DINOv2 config " + label + ": num_channels must be 3");
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("DINOv2 config " + label + ": a field has the wrong type (" + e.what() + ")");
  }
  check_config(c, label);
  return c;
}

Dinov2Config Dinov2Config::from_json_file(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) throw ModelError("DINOv2 config " + config_json.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return from_json_text(text.str(), config_json.string());
}

struct Dinov2::Impl {
  Dinov2Config config;
  Dinov2Model net{nullptr};
  c10::Device device{c10::kCPU};
};

Dinov2 Dinov2::random(const Dinov2Config& config, const c10::Device& device, uint64_t seed) {
  check_config(config, "(in memory)");
  torch::manual_seed(seed);
  Dinov2 d;
  d.impl_ = std::make_shared<Impl>();
  d.impl_->config = config;
  d.impl_->net = Dinov2Model(config);
  place_for_inference(*d.impl_->net, device);
  d.impl_->device = device;
  return d;
}

Dinov2 Dinov2::load(const Dinov2Config& config, const std::filesystem::path& weights, const c10::Device& device) {
  Dinov2 d = random(config, c10::Device(c10::kCPU));
  model::load_module_weights(*d.impl_->net, {weights});
  place_for_inference(*d.impl_->net, device);
  d.impl_->device = device;
  return d;
}

Dinov2 Dinov2::load(const std::filesystem::path& config_json, const std::filesystem::path& weights,
                    const c10::Device& device) {
  return load(Dinov2Config::from_json_file(config_json), weights, device);
}

const Dinov2Config& Dinov2::config() const { return impl_->config; }
c10::Device Dinov2::device() const { return impl_->device; }

void Dinov2::set_position_interpolation(Dinov2PositionInterpolation mode) {
  impl_->net->embeddings->legacy = mode == Dinov2PositionInterpolation::LegacyScaleFactor;
}

at::Tensor Dinov2::last_hidden_state(const at::Tensor& pixel_values) const {
  if (pixel_values.dim() != 4 || pixel_values.size(1) != 3)
    throw MetricError("DINOv2: expected pixel_values [N,3,H,W], got " + std::to_string(pixel_values.dim()) + " dimensions");
  const int64_t p = impl_->config.patch_size;
  if (pixel_values.size(2) < p || pixel_values.size(3) < p)
    throw MetricError("DINOv2: input of " + std::to_string(pixel_values.size(2)) + "x" + std::to_string(pixel_values.size(3)) +
                      " is smaller than one " + std::to_string(p) + "-pixel patch");
  torch::NoGradGuard no_grad;
  return impl_->net->forward(pixel_values.to(impl_->device, at::kFloat)).to(at::kCPU);
}

at::Tensor Dinov2::position_embeddings_for(int64_t height, int64_t width) const {
  torch::NoGradGuard no_grad;
  return impl_->net->embeddings->positions(height, width).to(at::kCPU, at::kFloat);
}

std::vector<std::pair<std::string, at::Tensor>> Dinov2::hidden_states(const at::Tensor& pixel_values) const {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::Tensor>> taps;
  impl_->net->forward(pixel_values.to(impl_->device, at::kFloat), &taps);
  for (auto& t : taps) t.second = t.second.to(at::kCPU);
  return taps;
}

}  // namespace osor::metrics
