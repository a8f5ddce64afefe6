#include "model/train/discriminator.h"

#include <cmath>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "model/error.h"
#include "model/io/module_weights.h"
#include "model/io/safetensors.h"
#include "model/nn/layers.h"
#include "model/train/spectral_norm.h"

namespace osor::model::train {
namespace {

// vision_aided_loss BlurPool(filt_size=5, pad_type="reflect", stride=2): reflect pad 2, depthwise 5×5, stride 2.
class BlurPool : public torch::nn::Module {
 public:
  explicit BlurPool(int64_t channels) {
    const auto a = at::tensor({1.0, 4.0, 6.0, 4.0, 1.0}, model::nn::param_options());
    const auto f = at::outer(a, a) / (a.sum() * a.sum());
    filt = register_buffer("filt", f.view({1, 1, 5, 5}).repeat({channels, 1, 1, 1}));
  }
  at::Tensor forward(const at::Tensor& x) const {
    return at::conv2d(at::reflection_pad2d(x, {2, 2, 2, 2}), filt, {}, at::IntArrayRef{2, 2},
                      at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, x.size(1));
  }
  at::Tensor filt;
};

class Head : public torch::nn::Module {
 public:
  Head(int64_t in, int64_t hidden, double slope) : slope_(slope) {
    conv = register_module("0", std::make_shared<SpectralNormConv2d>(in, hidden, 3, 1));
    blur = register_module("2", std::make_shared<BlurPool>(hidden));
    out = register_module("3", std::make_shared<SpectralNormConv2d>(hidden, 1, 1, 0));
  }
  at::Tensor blurred(const at::Tensor& f) { return blur->forward(at::leaky_relu(conv->forward(f), slope_)); }
  at::Tensor forward(const at::Tensor& f) { return out->forward(blurred(f)).squeeze(1); }
  std::shared_ptr<SpectralNormConv2d> conv, out;
  std::shared_ptr<BlurPool> blur;

 private:
  double slope_;
};

// A module that only holds children, for the state dict's path `backbone.model.visual.trunk`.
std::shared_ptr<torch::nn::Module> holder(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

class SMMPatchGAN : public torch::nn::Module {
 public:
  explicit SMMPatchGAN(const DiscriminatorConfig& c) {
    const auto& o = model::nn::param_options();
    mean = register_buffer("mean", at::tensor({0.48145466, 0.4578275, 0.40821073}, o).view({1, 3, 1, 1}));
    std = register_buffer("std", at::tensor({0.26862954, 0.26130258, 0.27577711}, o).view({1, 3, 1, 1}));
    auto visual = holder(*holder(*holder(*this, "backbone"), "model"), "visual");
    trunk = visual->register_module("trunk", make_convnext_trunk(c.trunk));
    auto list = holder(*this, "heads")->register_module("heads", std::make_shared<model::nn::List>());
    for (int64_t dim : c.trunk.dims) head_list.push_back(list->add(std::make_shared<Head>(dim, c.head_hidden, c.leaky_relu_slope)));
  }
  at::Tensor mean, std;
  std::shared_ptr<torch::nn::Module> trunk;
  std::vector<std::shared_ptr<Head>> head_list;
};

SMMPatchGAN& gan(const std::shared_ptr<torch::nn::Module>& m) { return static_cast<SMMPatchGAN&>(*m); }

int64_t shape_at(const SafetensorsFile& f, const std::string& key, size_t dim) {
  if (!f.contains(key))
    throw ModelError("discriminator weights " + f.label() + ": tensor " + key + " is missing (is this an OSOR D checkpoint?)");
  return f.entry(key).shape.at(dim);
}

}  // namespace

DiscriminatorConfig discriminator_config_from_weights(const std::filesystem::path& weights) {
  const auto f = SafetensorsFile::open(weights);
  const std::string trunk = "backbone.model.visual.trunk.stages.";
  DiscriminatorConfig c;
  c.trunk.dims.clear();
  c.trunk.depths.clear();
  for (int64_t i = 0; f.contains(trunk + std::to_string(i) + ".blocks.0.gamma"); ++i) {
    const std::string stage = trunk + std::to_string(i) + ".blocks.";
    int64_t depth = 0;
    while (f.contains(stage + std::to_string(depth) + ".gamma")) ++depth;
    c.trunk.dims.push_back(shape_at(f, stage + "0.gamma", 0));
    c.trunk.depths.push_back(depth);
  }
  if (c.trunk.dims.empty()) shape_at(f, trunk + "0.blocks.0.gamma", 0);  // throws naming the missing key
  c.trunk.kernel_size = shape_at(f, trunk + "0.blocks.0.conv_dw.weight", 2);
  c.trunk.mlp_ratio = shape_at(f, trunk + "0.blocks.0.mlp.fc1.weight", 0) / c.trunk.dims[0];
  c.head_hidden = shape_at(f, "heads.heads.0.0.weight_orig", 0);
  return c;
}

DiscriminatorConfig discriminator_config_from_json(const std::string& text, const std::string& source) {
  DiscriminatorConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    for (const auto& [key, value] : j.items())
      if (key.empty() || key[0] != '_')
        if (key != "depths" && key != "dims" && key != "kernel_size" && key != "mlp_ratio" && key != "head_hidden")
          throw ModelError("unknown key " + key);
    c.trunk.depths = j.value("depths", c.trunk.depths);
    c.trunk.dims = j.value("dims", c.trunk.dims);
    c.trunk.kernel_size = j.value("kernel_size", c.trunk.kernel_size);
    c.trunk.mlp_ratio = j.value("mlp_ratio", c.trunk.mlp_ratio);
    c.head_hidden = j.value("head_hidden", c.head_hidden);
  } catch (const std::exception& e) {
    throw ModelError("discriminator config " + source + ": " + e.what());
  }
  if (c.trunk.depths.size() != 4 || c.trunk.dims.size() != 4 || c.head_hidden <= 0)
    throw ModelError("discriminator config " + source + ": depths and dims need 4 stages and head_hidden > 0");
  return c;
}

DiscriminatorConfig discriminator_config_from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ModelError("discriminator config " + path.string() + ": missing or unreadable");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return discriminator_config_from_json(text, path.string());
}

Discriminator::Discriminator(const DiscriminatorConfig& config) : root_(std::make_shared<SMMPatchGAN>(config)) {
  train(false);
}

Discriminator Discriminator::load(const std::filesystem::path& weights) {
  Discriminator d(discriminator_config_from_weights(weights));
  d.load_weights(weights);
  return d;
}

void Discriminator::load_weights(const std::filesystem::path& weights) {
  WeightsLoadOptions options;
  // OpenCLIP's text tower and the trunk's pooling head are in the checkpoint but unused by the D.
  options.ignore_key_prefixes = {"backbone.model.visual.trunk.head.", "backbone.model.visual.head.",
                                 "backbone.model.transformer.", "backbone.model.token_embedding.",
                                 "backbone.model.positional_embedding", "backbone.model.text_projection",
                                 "backbone.model.logit_scale", "backbone.model.ln_final."};
  load_module_weights(*root_, {weights}, options);
}

void Discriminator::load_trunk(const std::filesystem::path& open_clip_weights) {
  const auto f = SafetensorsFile::open(open_clip_weights);
  const std::string own = "backbone.model.";
  std::vector<std::string> missing;
  at::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, at::Tensor& target) {
    if (name.rfind(own + "visual.trunk.", 0) != 0) return;
    const std::string open_clip = name.substr(own.size());
    const std::string key = f.contains(name) ? name : open_clip;
    if (!f.contains(key)) return missing.push_back(open_clip);
    const at::Tensor t = f.tensor(key);
    if (!t.sizes().equals(target.sizes()))
      throw ModelError("discriminator trunk " + f.label() + ": " + key + " has shape " + c10::str(t.sizes()) +
                       ", the D's is " + c10::str(target.sizes()));
    target.copy_(t);
  };
  for (auto& item : root_->named_parameters()) copy(item.key(), item.value());
  for (auto& item : root_->named_buffers()) copy(item.key(), item.value());
  if (!missing.empty())
    throw ModelError("discriminator trunk " + f.label() + ": " + std::to_string(missing.size()) + " tensors missing, e.g. " +
                     missing.front() + " (an OpenCLIP ConvNeXt checkpoint of this size?)");
}

void Discriminator::initialize_heads(uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard no_grad;
  for (const auto& item : root_->named_modules("", false)) {
    auto* sn = dynamic_cast<SpectralNormConv2d*>(item.value().get());
    if (!sn) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(sn->weight_orig.numel() / sn->weight_orig.size(0)));
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    sn->weight_orig.copy_(at::rand(sn->weight_orig.sizes(), gen, f32) * (2 * bound) - bound);
    if (sn->bias.defined()) sn->bias.copy_(at::rand(sn->bias.sizes(), gen, f32) * (2 * bound) - bound);
    const at::Tensor u = at::randn(sn->weight_u.sizes(), gen, f32), v = at::randn(sn->weight_v.sizes(), gen, f32);
    sn->weight_u.copy_(u / u.norm().clamp_min(1e-12));
    sn->weight_v.copy_(v / v.norm().clamp_min(1e-12));
  }
}

void Discriminator::randomize(uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard no_grad;
  const std::string trunk = "backbone.model.visual.trunk.";
  for (auto& item : root_->named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& p = item.value();
    if (name.rfind(trunk, 0) != 0) continue;
    if (p.dim() >= 2)
      p.copy_(at::randn(p.sizes(), gen, at::TensorOptions().dtype(at::kFloat)) / std::sqrt(static_cast<double>(p.numel() / p.size(0))));
    else if (name.size() > 6 && name.compare(name.size() - 6, 6, ".gamma") == 0)
      p.fill_(1e-6);
    else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
      p.zero_();
    else
      p.fill_(1.0);
  }
  initialize_heads(seed + 1);
}

DiscriminatorOutput Discriminator::forward(const at::Tensor& x) {
  auto& g = gan(root_);
  const at::Tensor xc = ((x + 1) * 0.5 - g.mean) / g.std;
  DiscriminatorOutput out;
  out.features = convnext_stage_outputs(*g.trunk, xc);
  out.logits = heads(out.features);
  return out;
}

std::vector<at::Tensor> Discriminator::heads(const std::vector<at::Tensor>& features) {
  auto& g = gan(root_);
  if (features.size() != g.head_list.size())
    throw ModelError("discriminator: " + std::to_string(features.size()) + " feature maps for " +
                     std::to_string(g.head_list.size()) + " heads");
  std::vector<at::Tensor> logits;
  for (size_t k = 0; k < features.size(); ++k) {
    const at::Tensor& f = features[k];
    // BlurPool's reflect padding (2) needs more than 2 rows and columns.
    if (f.dim() != 4 || f.size(2) < 3 || f.size(3) < 3)
      throw ModelError("discriminator: the image is too small for head " + std::to_string(k) + " (its feature map is " +
                       c10::str(f.sizes()) + "; the heads' reflect-padded blur needs at least 3x3, i.e. images of at "
                       "least 96x96 for the trunk's total stride 32)");
    logits.push_back(g.head_list[k]->forward(f));
  }
  return logits;
}

at::Tensor Discriminator::head(size_t k, const at::Tensor& feature) {
  auto& g = gan(root_);
  if (k >= g.head_list.size())
    throw ModelError("discriminator: head " + std::to_string(k) + " of " + std::to_string(g.head_list.size()));
  return g.head_list[k]->forward(feature);
}

size_t Discriminator::head_count() const { return gan(root_).head_list.size(); }

at::Tensor Discriminator::stem(const at::Tensor& x) {
  auto& g = gan(root_);
  return convnext_stem(*g.trunk, ((x + 1) * 0.5 - g.mean) / g.std);
}

std::vector<at::Tensor> Discriminator::blurpool_outputs(const std::vector<at::Tensor>& features) {
  auto& g = gan(root_);
  std::vector<at::Tensor> out;
  for (size_t k = 0; k < features.size() && k < g.head_list.size(); ++k) out.push_back(g.head_list[k]->blurred(features[k]));
  return out;
}

void Discriminator::train(bool on) {
  auto& g = gan(root_);
  g.train(on);
  g.trunk->eval();
}

bool Discriminator::is_training() const { return gan(root_).head_list.at(0)->is_training(); }

std::vector<std::pair<std::string, at::Tensor>> Discriminator::trainable_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : root_->named_parameters())
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Discriminator::last_sigmas() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : root_->named_modules("", false))
    if (auto* sn = dynamic_cast<SpectralNormConv2d*>(item.value().get())) out.emplace_back(item.key(), sn->last_sigma);
  return out;
}

torch::nn::Module& Discriminator::module() { return *root_; }

}  // namespace osor::model::train
