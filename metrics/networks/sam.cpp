#include "metrics/networks/sam.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "metrics/error.h"
#include "metrics/networks/inference_setup.h"
#include "metrics/networks/sam_modules.h"
#include "metrics/resize.h"
#include "model/error.h"
#include "model/io/module_weights.h"
#include "model/io/pytorch_checkpoint.h"

namespace osor::metrics {

namespace {

void check_config(const SamConfig& c, const std::string& label) {
  auto fail = [&](const std::string& what) { throw ModelError("SAM config " + label + ": " + what); };
  if (c.encoder_embed_dim <= 0 || c.encoder_num_heads <= 0 || c.encoder_embed_dim % c.encoder_num_heads != 0)
    fail("encoder_embed_dim must be a positive multiple of encoder_num_heads");
  if (c.vit_patch_size <= 0 || c.image_size % c.vit_patch_size != 0) fail("image_size must be a multiple of vit_patch_size");
  if (c.prompt_embed_dim <= 0 || c.prompt_embed_dim % 8 != 0 || (c.prompt_embed_dim / 2) % c.decoder_num_heads != 0)
    fail("prompt_embed_dim must be a multiple of 8 whose half divides by decoder_num_heads");
  if (c.mask_in_chans < 4 || c.window_size < 0 || c.encoder_depth < 0 || c.decoder_depth < 1 || c.iou_head_depth < 1)
    fail("a size is out of range");
}

at::ScalarType checkpoint_type(const model::CheckpointTensor& t, const std::string& label) {
  if (t.dtype == "F32") return at::kFloat;
  if (t.dtype == "F16") return at::kHalf;
  if (t.dtype == "BF16") return at::kBFloat16;
  if (t.dtype == "F64") return at::kDouble;
  throw ModelError("SAM weights " + label + ": tensor " + t.name + " has dtype " + t.dtype + ", expected a float type");
}

// sam_vit_h_4b8939.pth read natively: every parameter and buffer by its own name, strictly.
void load_pth(torch::nn::Module& module, const std::filesystem::path& path) {
  const model::PytorchCheckpoint ckpt = model::PytorchCheckpoint::read(path);
  const std::string label = path.string();
  std::string problems;
  size_t used = 0;
  torch::NoGradGuard no_grad;
  auto fill = [&](const std::string& name, torch::Tensor& target) {
    const model::CheckpointTensor* t = ckpt.find(name);
    if (!t) {
      problems += " missing " + name + ";";
      return;
    }
    ++used;
    const at::Tensor src = at::from_blob(const_cast<unsigned char*>(t->data), t->shape, at::TensorOptions().dtype(checkpoint_type(*t, label)));
    if (src.sizes() != target.sizes()) {
      problems += " " + name + " has shape " + c10::str(src.sizes()) + ", expected " + c10::str(target.sizes()) + ";";
      return;
    }
    target.copy_(src);
  };
  for (auto& p : module.named_parameters()) fill(p.key(), p.value());
  for (auto& b : module.named_buffers()) fill(b.key(), b.value());
  if (used != ckpt.tensors().size()) problems += " the file has " + std::to_string(ckpt.tensors().size() - used) + " tensors the model does not;";
  if (!problems.empty()) throw ModelError("SAM weights " + label + ":" + problems);
}

}  // namespace

SamConfig SamConfig::vit_h() { return SamConfig{}; }

SamConfig SamConfig::from_json_text(const std::string& text, const std::string& label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("SAM config " + label + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw ModelError("SAM config " + label + ": not a JSON object");
  SamConfig c;
  try {
#define OSOR_SAM_FIELD(name) c.name = j.value(#name, c.name)
    OSOR_SAM_FIELD(encoder_embed_dim);
    OSOR_SAM_FIELD(encoder_depth);
    OSOR_SAM_FIELD(encoder_num_heads);
    OSOR_SAM_FIELD(encoder_global_attn_indexes);
    OSOR_SAM_FIELD(prompt_embed_dim);
    OSOR_SAM_FIELD(image_size);
    OSOR_SAM_FIELD(vit_patch_size);
    OSOR_SAM_FIELD(window_size);
    OSOR_SAM_FIELD(mlp_ratio);
    OSOR_SAM_FIELD(mask_in_chans);
    OSOR_SAM_FIELD(decoder_depth);
    OSOR_SAM_FIELD(decoder_mlp_dim);
    OSOR_SAM_FIELD(decoder_num_heads);
    OSOR_SAM_FIELD(num_multimask_outputs);
    OSOR_SAM_FIELD(iou_head_depth);
    OSOR_SAM_FIELD(iou_head_hidden_dim);
    OSOR_SAM_FIELD(pixel_mean);
    OSOR_SAM_FIELD(pixel_std);
    OSOR_SAM_FIELD(layer_norm_eps);
    OSOR_SAM_FIELD(qkv_bias);
    OSOR_SAM_FIELD(use_rel_pos);
#undef OSOR_SAM_FIELD
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("SAM config " + label + ": a field has the wrong type (" + e.what() + ")");
  }
  check_config(c, label);
  return c;
}

struct Sam::Impl {
  SamConfig config;
  sam::SamModel net{nullptr};
  c10::Device device{c10::kCPU};
};

Sam Sam::random(const SamConfig& config, const c10::Device& device, uint64_t seed) {
  check_config(config, "(in memory)");
  torch::manual_seed(seed);
  Sam s;
  s.impl_ = std::make_shared<Impl>();
  s.impl_->config = config;
  s.impl_->net = sam::SamModel(config);
  place_for_inference(*s.impl_->net, device);
  s.impl_->device = device;
  return s;
}

Sam Sam::load(const SamConfig& config, const std::filesystem::path& weights, const c10::Device& device) {
  Sam s = random(config, c10::Device(c10::kCPU));
  if (weights.extension() == ".pth" || weights.extension() == ".pt")
    load_pth(*s.impl_->net, weights);
  else
    model::load_module_weights(*s.impl_->net, {weights});
  place_for_inference(*s.impl_->net, device);
  s.impl_->device = device;
  return s;
}

const SamConfig& Sam::config() const { return impl_->config; }
c10::Device Sam::device() const { return impl_->device; }

std::array<int64_t, 2> sam_preprocess_shape(int64_t h, int64_t w, int64_t long_side) {
  const double scale = static_cast<double>(long_side) * 1.0 / static_cast<double>(std::max(h, w));
  return {static_cast<int64_t>(static_cast<double>(h) * scale + 0.5), static_cast<int64_t>(static_cast<double>(w) * scale + 0.5)};
}

at::Tensor sam_postprocess_masks(const at::Tensor& low_res, int64_t image_size, const std::array<int64_t, 2>& input_size,
                                 const std::array<int64_t, 2>& original_size) {
  namespace F = torch::nn::functional;
  auto bilinear = [](const at::Tensor& x, int64_t h, int64_t w) {
    return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false));
  };
  const at::Tensor full = bilinear(low_res, image_size, image_size).slice(2, 0, input_size[0]).slice(3, 0, input_size[1]);
  return bilinear(full, original_size[0], original_size[1]);
}

std::array<int64_t, 2> Sam::preprocess_shape(int64_t h, int64_t w) const {
  return sam_preprocess_shape(h, w, impl_->config.image_size);
}

at::Tensor Sam::resize_longest_side(const at::Tensor& picture_u8) const {
  if (picture_u8.dim() != 3 || picture_u8.size(0) != 3 || picture_u8.scalar_type() != at::kByte)
    throw MetricError("SAM: expected a uint8 RGB picture [3,H,W]");
  const auto [h, w] = preprocess_shape(picture_u8.size(1), picture_u8.size(2));
  return pil_resize_u8(picture_u8, h, w, PilFilter::Bilinear);
}

at::Tensor Sam::input_tensor(const at::Tensor& resized_u8) const {
  const SamConfig& c = impl_->config;
  const at::Tensor mean = torch::tensor({c.pixel_mean[0], c.pixel_mean[1], c.pixel_mean[2]}).to(torch::kFloat).view({1, 3, 1, 1});
  const at::Tensor std = torch::tensor({c.pixel_std[0], c.pixel_std[1], c.pixel_std[2]}).to(torch::kFloat).view({1, 3, 1, 1});
  const at::Tensor x = (resized_u8.unsqueeze(0).to(torch::kFloat) - mean) / std;
  const int64_t ph = c.image_size - x.size(2), pw = c.image_size - x.size(3);
  if (ph < 0 || pw < 0) throw MetricError("SAM: the resized picture is larger than the model input");
  return torch::nn::functional::pad(x, torch::nn::functional::PadFuncOptions({0, pw, 0, ph}));
}

at::Tensor Sam::image_embeddings(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  return impl_->net->image_encoder->forward(input.to(impl_->device, torch::kFloat));
}

std::vector<std::pair<std::string, at::Tensor>> Sam::encoder_hidden_states(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::Tensor>> taps;
  impl_->net->image_encoder->forward(input.to(impl_->device, torch::kFloat), &taps);
  for (auto& t : taps) t.second = t.second.to(at::kCPU);
  return taps;
}

SamImage Sam::set_image(const at::Tensor& picture_u8) const {
  SamImage s;
  const at::Tensor resized = resize_longest_side(picture_u8);
  s.original_size = {picture_u8.size(1), picture_u8.size(2)};
  s.input_size = {resized.size(1), resized.size(2)};
  s.embeddings = image_embeddings(input_tensor(resized));
  return s;
}

at::Tensor Sam::apply_coords(const at::Tensor& points, const std::array<int64_t, 2>& original_size) const {
  const auto [nh, nw] = preprocess_shape(original_size[0], original_size[1]);
  const at::Tensor p = points.to(at::kCPU, at::kDouble);
  const double sx = static_cast<double>(nw) / static_cast<double>(original_size[1]);
  const double sy = static_cast<double>(nh) / static_cast<double>(original_size[0]);
  return torch::stack({p.select(-1, 0) * sx, p.select(-1, 1) * sy}, -1);
}

at::Tensor Sam::dense_pe() const {
  torch::NoGradGuard no_grad;
  return impl_->net->prompt_encoder->dense_pe();
}

std::pair<at::Tensor, at::Tensor> Sam::prompt_embeddings(const at::Tensor& points, const at::Tensor& labels) const {
  torch::NoGradGuard no_grad;
  auto& pe = impl_->net->prompt_encoder;
  const at::Tensor sparse = pe->embed_points(points.to(impl_->device), labels.to(impl_->device), true);
  return {sparse, pe->no_mask_dense(points.size(0))};
}

SamPrediction Sam::predict(const SamImage& image, const at::Tensor& points, const at::Tensor& labels, bool multimask_output) const {
  if (points.dim() != 3 || points.size(2) != 2 || labels.dim() != 2 || labels.size(0) != points.size(0) || labels.size(1) != points.size(1))
    throw MetricError("SAM: expected points [B,N,2] and labels [B,N]");
  torch::NoGradGuard no_grad;
  const auto [sparse, dense] = prompt_embeddings(points, labels);
  auto [masks, iou] = impl_->net->mask_decoder->predict_masks(image.embeddings, dense_pe(), sparse, dense);
  const int64_t first = multimask_output ? 1 : 0, last = multimask_output ? masks.size(1) : 1;
  return {masks.slice(1, first, last), iou.slice(1, first, last)};
}

at::Tensor Sam::postprocess_masks(const at::Tensor& low_res, const std::array<int64_t, 2>& input_size,
                                  const std::array<int64_t, 2>& original_size) const {
  return sam_postprocess_masks(low_res, impl_->config.image_size, input_size, original_size);
}

}  // namespace osor::metrics
