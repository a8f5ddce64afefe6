#include "metrics/networks/clip_vision.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "metrics/eight_bit.h"
#include "metrics/error.h"
#include "metrics/networks/inference_setup.h"
#include "metrics/resize.h"
#include "model/error.h"
#include "model/io/module_weights.h"

namespace osor::metrics {

namespace nn = torch::nn;

namespace {

struct ClipAttentionImpl : nn::Module {
  ClipAttentionImpl(int64_t hidden, int64_t heads) : num_heads(heads), head_dim(hidden / heads) {
    k_proj = register_module("k_proj", nn::Linear(hidden, hidden));
    v_proj = register_module("v_proj", nn::Linear(hidden, hidden));
    q_proj = register_module("q_proj", nn::Linear(hidden, hidden));
    out_proj = register_module("out_proj", nn::Linear(hidden, hidden));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), t = x.size(1), h = x.size(2);
    auto split = [&](const torch::Tensor& y) { return y.view({b, t, num_heads, head_dim}).transpose(1, 2); };
    const torch::Tensor q = split(q_proj(x)), k = split(k_proj(x)), v = split(v_proj(x));
    // Current transformers multiplies the scale after q·kᵀ (older versions scaled q first).
    const torch::Tensor w = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) * std::pow(double(head_dim), -0.5), -1);
    return out_proj(torch::matmul(w, v).transpose(1, 2).reshape({b, t, h}));
  }
  int64_t num_heads, head_dim;
  nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : nn::Module {
  ClipMlpImpl(int64_t hidden, int64_t intermediate, bool quick) : quick_gelu(quick) {
    fc1 = register_module("fc1", nn::Linear(hidden, intermediate));
    fc2 = register_module("fc2", nn::Linear(intermediate, hidden));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = fc1(x);
    y = quick_gelu ? y * torch::sigmoid(1.702 * y) : torch::gelu(y);
    return fc2(y);
  }
  bool quick_gelu;
  nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ClipEncoderLayerImpl : nn::Module {
  explicit ClipEncoderLayerImpl(const ClipVisionConfig& c) {
    self_attn = register_module("self_attn", ClipAttention(c.hidden_size, c.num_attention_heads));
    layer_norm1 = register_module("layer_norm1", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
    mlp = register_module("mlp", ClipMlp(c.hidden_size, c.intermediate_size, c.hidden_act == "quick_gelu"));
    layer_norm2 = register_module("layer_norm2", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  }
  torch::Tensor forward(torch::Tensor h) {
    h = h + self_attn(layer_norm1(h));
    return h + mlp(layer_norm2(h));
  }
  ClipAttention self_attn{nullptr};
  nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

struct ClipEmbeddingsImpl : nn::Module {
  explicit ClipEmbeddingsImpl(const ClipVisionConfig& c) : patch(c.patch_size) {
    class_embedding = register_parameter("class_embedding", torch::randn({c.hidden_size}));
    patch_embedding = register_module(
        "patch_embedding", nn::Conv2d(nn::Conv2dOptions(3, c.hidden_size, c.patch_size).stride(c.patch_size).bias(false)));
    const int64_t grid = c.image_size / c.patch_size;
    position_embedding = register_module("position_embedding", nn::Embedding(grid * grid + 1, c.hidden_size));
  }
  torch::Tensor forward(const torch::Tensor& pixels) {
    const torch::Tensor patches = patch_embedding(pixels).flatten(2).transpose(1, 2);  // row-major tokens
    const torch::Tensor cls = class_embedding.view({1, 1, -1}).expand({pixels.size(0), 1, -1});
    torch::Tensor x = torch::cat({cls, patches}, 1);
    if (x.size(1) != position_embedding->weight.size(0))
      throw MetricError("CLIP vision: input of " + std::to_string(pixels.size(2)) + "x" + std::to_string(pixels.size(3)) +
                        " gives " + std::to_string(x.size(1)) + " tokens, the position embedding has " +
                        std::to_string(position_embedding->weight.size(0)));
    return x + position_embedding->weight.unsqueeze(0);
  }
  int64_t patch;
  torch::Tensor class_embedding;
  nn::Conv2d patch_embedding{nullptr};
  nn::Embedding position_embedding{nullptr};
};
TORCH_MODULE(ClipEmbeddings);

struct ClipEncoderImpl : nn::Module {
  explicit ClipEncoderImpl(const ClipVisionConfig& c) {
    layers = register_module("layers", nn::ModuleList());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(c));
  }
  nn::ModuleList layers{nullptr};
};
TORCH_MODULE(ClipEncoder);

struct ClipVisionTransformerImpl : nn::Module {
  explicit ClipVisionTransformerImpl(const ClipVisionConfig& c) {
    embeddings = register_module("embeddings", ClipEmbeddings(c));
    pre_layrnorm = register_module("pre_layrnorm", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
    encoder = register_module("encoder", ClipEncoder(c));
    post_layernorm = register_module("post_layernorm", nn::LayerNorm(nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  }
  ClipEmbeddings embeddings{nullptr};
  nn::LayerNorm pre_layrnorm{nullptr}, post_layernorm{nullptr};
  ClipEncoder encoder{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

// CLIPVisionModelWithProjection: vision_model.* + visual_projection.weight.
struct ClipVisionWithProjectionImpl : nn::Module {
  explicit ClipVisionWithProjectionImpl(const ClipVisionConfig& c) {
    vision_model = register_module("vision_model", ClipVisionTransformer(c));
    visual_projection = register_module("visual_projection", nn::Linear(nn::LinearOptions(c.hidden_size, c.projection_dim).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& pixels, std::vector<std::pair<std::string, torch::Tensor>>* taps = nullptr) {
    auto tap = [&](const std::string& name, const torch::Tensor& t) {
      if (taps) taps->emplace_back(name, t);
    };
    torch::Tensor h = vision_model->embeddings(pixels);
    tap("embeddings", h);
    h = vision_model->pre_layrnorm(h);
    tap("after_pre_layrnorm", h);
    size_t i = 0;
    for (const auto& layer : *vision_model->encoder->layers) {
      h = layer->as<ClipEncoderLayerImpl>()->forward(h);
      tap("layer" + std::to_string(i++) + "_out", h);
    }
    const torch::Tensor pooled = vision_model->post_layernorm(h.select(1, 0));
    tap("pooler_output", pooled);
    return visual_projection(pooled);
  }
  ClipVisionTransformer vision_model{nullptr};
  nn::Linear visual_projection{nullptr};
};
TORCH_MODULE(ClipVisionWithProjection);

// CLIP's image normalisation constants (OpenAI), applied in float32.
at::Tensor normalize_clip(const at::Tensor& x01) {
  const at::Tensor mean = at::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({1, 3, 1, 1});
  const at::Tensor std = at::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({1, 3, 1, 1});
  return (x01 - mean) / std;
}

}  // namespace

ClipVisionConfig ClipVisionConfig::from_json_file(const std::filesystem::path& config_json) {
  const std::string label = config_json.string();
  std::ifstream in(config_json);
  if (!in) throw ModelError("CLIP config " + label + ": cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("CLIP config " + label + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw ModelError("CLIP config " + label + ": not a JSON object");
  // A full CLIPConfig nests the tower in vision_config and keeps projection_dim at the top level.
  const bool full = j.contains("vision_config");
  const nlohmann::json& v = full ? j["vision_config"] : j;
  if (!v.is_object()) throw ModelError("CLIP config " + label + ": vision_config is not an object");
  // Absent fields take transformers' CLIPVisionConfig / CLIPConfig defaults, as from_pretrained would.
  ClipVisionConfig c;
  try {
    c.hidden_size = v.value("hidden_size", int64_t{768});
    c.intermediate_size = v.value("intermediate_size", int64_t{3072});
    c.num_hidden_layers = v.value("num_hidden_layers", int64_t{12});
    c.num_attention_heads = v.value("num_attention_heads", int64_t{12});
    c.patch_size = v.value("patch_size", int64_t{32});
    c.image_size = v.value("image_size", int64_t{224});
    c.layer_norm_eps = v.value("layer_norm_eps", 1e-5);
    c.hidden_act = v.value("hidden_act", std::string("quick_gelu"));
    c.projection_dim = full ? j.value("projection_dim", int64_t{512}) : v.value("projection_dim", int64_t{512});
    if (v.contains("num_channels") && v["num_channels"].get<int64_t>() != 3)
      throw ModelError("CLIP config " + label + ": num_channels must be 3");
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("CLIP config " + label + ": a field has the wrong type (" + e.what() + ")");
  }
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
    throw ModelError("CLIP config " + label + ": hidden_size must be a positive multiple of num_attention_heads");
  if (c.patch_size <= 0 || c.image_size % c.patch_size != 0)
    throw ModelError("CLIP config " + label + ": image_size must be a multiple of patch_size");
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu")
    throw ModelError("CLIP config " + label + ": hidden_act '" + c.hidden_act + "' is not supported (quick_gelu, gelu)");
  return c;
}

const char* to_string(ClipPreprocess mode) { return mode == ClipPreprocess::CmmdCenterSquare ? "cmmd" : "clip-processor"; }

struct ClipVision::Impl {
  ClipVisionConfig config;
  ClipVisionWithProjection net{nullptr};
  c10::Device device{c10::kCPU};
};

ClipVision ClipVision::random(const ClipVisionConfig& config, const c10::Device& device, uint64_t seed) {
  torch::manual_seed(seed);
  ClipVision c;
  c.impl_ = std::make_shared<Impl>();
  c.impl_->config = config;
  c.impl_->net = ClipVisionWithProjection(config);
  place_for_inference(*c.impl_->net, device);
  c.impl_->device = device;
  return c;
}

ClipVision ClipVision::load(const std::filesystem::path& config_json, const std::filesystem::path& weights,
                            const c10::Device& device) {
  ClipVision c = random(ClipVisionConfig::from_json_file(config_json), c10::Device(c10::kCPU));
  model::WeightsLoadOptions options;
  // The HF checkpoint holds the whole CLIP model; only the image tower and its projection are used.
  options.ignore_key_prefixes = {"text_model.", "text_projection.", "logit_scale"};
  options.ignore_key_suffixes = {"position_ids"};
  model::load_module_weights(*c.impl_->net, {weights}, options);
  place_for_inference(*c.impl_->net, device);
  c.impl_->device = device;
  return c;
}

const ClipVisionConfig& ClipVision::config() const { return impl_->config; }
c10::Device ClipVision::device() const { return impl_->device; }

at::Tensor ClipVision::preprocess(const at::Tensor& images, ClipPreprocess mode) const {
  if (images.dim() != 4 || images.size(1) != 3)
    throw MetricError("CLIP: expected images [N,3,H,W], got " + std::to_string(images.dim()) + " dimensions");
  const int64_t s = impl_->config.image_size;
  const at::Tensor u8 = images.scalar_type() == at::kByte ? images.to(at::kCPU) : eight_bit_values(images.to(at::kCPU)).to(at::kByte);
  const int64_t h = u8.size(2), w = u8.size(3);
  at::Tensor x;
  if (mode == ClipPreprocess::CmmdCenterSquare) {
    // CMMD io_util: PIL crop of the centre square, PIL bicubic to s×s on uint8, float32(u8)/255 in float32.
    const int64_t l = std::min(h, w), top = (h - l) / 2, left = (w - l) / 2;
    const at::Tensor square = u8.slice(2, top, top + l).slice(3, left, left + l);
    x = pil_resize_u8(square, s, s, PilFilter::Bicubic).to(at::kFloat).div(255.0f);
  } else {
    // CLIPImageProcessor: shortest edge to s (long edge int(s·long/short), truncated), centre crop,
    // float32(float64(u8) · (1/255)).
    const int64_t shorter = std::min(h, w), longer = std::max(h, w);
    const int64_t new_long = static_cast<int64_t>(static_cast<double>(s * longer) / static_cast<double>(shorter));
    const int64_t nh = h <= w ? s : new_long, nw = h <= w ? new_long : s;
    const at::Tensor resized = pil_resize_u8(u8, nh, nw, PilFilter::Bicubic);
    const int64_t top = (nh - s) / 2, left = (nw - s) / 2;
    x = resized.slice(2, top, top + s).slice(3, left, left + s).to(at::kDouble).mul(1.0 / 255.0).to(at::kFloat);
  }
  return normalize_clip(x).to(impl_->device);
}

at::Tensor ClipVision::image_embeds(const at::Tensor& pixel_values) const {
  torch::NoGradGuard no_grad;
  return impl_->net->forward(pixel_values.to(impl_->device, at::kFloat)).to(at::kCPU);
}

at::Tensor ClipVision::forward(const at::Tensor& images, ClipPreprocess mode, int64_t batch_size) const {
  return rows_in_batches(images, batch_size, impl_->config.projection_dim,
                         [&](const at::Tensor& batch) { return image_embeds(preprocess(batch, mode)); });
}

std::vector<std::pair<std::string, at::Tensor>> ClipVision::hidden_states(const at::Tensor& pixel_values) const {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::Tensor>> taps;
  impl_->net->forward(pixel_values.to(impl_->device, at::kFloat), &taps);
  for (auto& t : taps) t.second = t.second.to(at::kCPU);
  return taps;
}

double ClipVision::flops_per_image() const {
  const ClipVisionConfig& c = impl_->config;
  const double g = static_cast<double>(c.image_size / c.patch_size);
  const double t = g * g + 1, h = static_cast<double>(c.hidden_size), i = static_cast<double>(c.intermediate_size);
  const double patch = 2 * g * g * h * 3 * c.patch_size * c.patch_size;
  const double per_layer = 2 * t * h * h * 4 + 2 * 2 * t * t * h + 2 * 2 * t * h * i;
  return patch + per_layer * static_cast<double>(c.num_hidden_layers) + 2 * h * static_cast<double>(c.projection_dim);
}

}  // namespace osor::metrics
