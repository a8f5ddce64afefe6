// OSOR's discriminator `SMMPatchGAN` (osor-*/src/models/discriminator.py, backbone.py; spec §5.1–5.4): a frozen
// OpenCLIP ConvNeXt trunk (model/train/convnext_trunk.h) whose four stage outputs feed four trainable heads
//   head k: SN conv 3×3 pad 1 (C_k → hidden) → LeakyReLU(0.2) → BlurPool (reflect pad 2, 5×5 binomial filter
//           `filt`, stride 2) → SN conv 1×1 (hidden → 1) → logits [B, ceil(H_k/2), ceil(W_k/2)]
// with spectral norm as in PyTorch (model/train/spectral_norm.h). Input x in [−1, 1] is mapped to CLIP's
// normalisation ((x + 1)/2 − mean)/std with the `mean`/`std` buffers. train(true) switches the heads only (one
// power iteration per SN conv and forward); the trunk always runs in eval mode, without gradients to its weights.
// Module names are the state dict's (`backbone.model.visual.trunk.*`, `heads.heads.k.{0,2,3}.*`, `mean`, `std`),
// so OSOR's D checkpoint (accelerate's model.safetensors) loads by name; the CLIP text tower and the trunk's
// unused `head.*` in it are ignored.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/train/convnext_trunk.h"

namespace torch::nn {
class Module;
}

namespace osor::model::train {

struct DiscriminatorConfig {
  ConvNeXtConfig trunk;                   // convnext_xxlarge by default
  int64_t head_hidden = 512;
  double leaky_relu_slope = 0.2;
};

// The architecture a D weights file holds (dims, depths, kernel, MLP ratio and head width from the tensor
// shapes; norm eps stays convnext_xxlarge's 1e-5). Throws ModelError naming the file when a key is missing.
DiscriminatorConfig discriminator_config_from_weights(const std::filesystem::path& weights);

// The architecture from a small JSON file (model/configs/{tiny,full}/discriminator/config.json: depths, dims,
// kernel_size, mlp_ratio, head_hidden; keys starting with "_" are comments). ModelError naming `source` otherwise.
DiscriminatorConfig discriminator_config_from_json(const std::string& text, const std::string& source);
// The same read from a file (ModelError naming a missing one).
DiscriminatorConfig discriminator_config_from_file(const std::filesystem::path& path);

struct DiscriminatorOutput {
  std::vector<at::Tensor> logits;    // per head [B,h_k,w_k]
  std::vector<at::Tensor> features;  // the trunk's stage outputs = the heads' inputs
};

class Discriminator {
 public:
  explicit Discriminator(const DiscriminatorConfig& config);  // parameters in nn::param_options()
  // Config from the file's shapes, then every used tensor loaded (strict: missing or misshaped keys throw).
  static Discriminator load(const std::filesystem::path& weights);
  void load_weights(const std::filesystem::path& weights);
  // A fresh D as OSOR builds one: the trunk from an OpenCLIP ConvNeXt checkpoint (safetensors; keys `visual.trunk.*`
  // as open_clip names them, or this D's own `backbone.model.visual.trunk.*`; the config must match its shapes),
  // the heads initialised as PyTorch does (initialize_heads).
  void load_trunk(const std::filesystem::path& open_clip_weights);
  // PyTorch's default Conv2d init for the heads' weight_orig and bias (U(±1/√fan_in)) and random unit u/v, from `seed`.
  void initialize_heads(uint64_t seed);
  // Everything random from `seed` (trunk weights N(0, 1/fan_in), norms 1/0, layer scale 1e-6 as timm; heads as
  // initialize_heads): tests and measurements without a trunk checkpoint.
  void randomize(uint64_t seed);

  DiscriminatorOutput forward(const at::Tensor& x);  // x [B,3,H,W] in [−1, 1]
  // The heads alone on given features (R1 differentiates their sum w.r.t. the features).
  std::vector<at::Tensor> heads(const std::vector<at::Tensor>& features);
  at::Tensor head(size_t k, const at::Tensor& feature);  // head k alone → [B,h,w]
  size_t head_count() const;
  at::Tensor stem(const at::Tensor& x);  // the trunk's stem output (traces)
  std::vector<at::Tensor> blurpool_outputs(const std::vector<at::Tensor>& features);  // traces; eval-mode σ

  void train(bool on);  // heads only
  bool is_training() const;
  // The trainable tensors (heads' weight_orig and bias) by state-dict name.
  std::vector<std::pair<std::string, at::Tensor>> trainable_parameters();
  // σ each spectral-norm conv used in the last forward, by module name (`heads.heads.k.0` / `.3`).
  std::vector<std::pair<std::string, at::Tensor>> last_sigmas();
  torch::nn::Module& module();

 private:
  std::shared_ptr<torch::nn::Module> root_;
};

}  // namespace osor::model::train
