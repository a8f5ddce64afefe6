#include "model/flux/flux_transformer.h"

#include <ATen/ATen.h>

#include <map>
#include <numeric>
#include <tuple>

#include "model/error.h"
#include "model/flux/bfl_key_names.h"
#include "model/flux/flux_blocks.h"
#include "model/io/diffusers_config.h"
#include "model/io/module_weights.h"
#include "model/io/safetensors.h"
#include "model/nn/activation_checkpoint.h"

namespace osor::model {
namespace {

using flux::FluxSingleTransformerBlock;
using flux::FluxTransformerBlock;

class FluxModule : public torch::nn::Module {
 public:
  explicit FluxModule(const FluxTransformerConfig& c) : config(c) {
    const int64_t dim = c.inner_dim(), heads = c.num_attention_heads, head_dim = c.attention_head_dim;
    time_text_embed = register_module("time_text_embed", std::make_shared<flux::TimeTextEmbedding>(
                                                             dim, c.pooled_projection_dim, c.guidance_embeds));
    context_embedder = register_module("context_embedder", std::make_shared<nn::Linear>(c.joint_attention_dim, dim));
    x_embedder = register_module("x_embedder", std::make_shared<nn::Linear>(c.in_channels, dim));
    auto doubles = register_module("transformer_blocks", std::make_shared<nn::List>());
    for (int64_t i = 0; i < c.num_layers; ++i)
      transformer_blocks.push_back(doubles->add(std::make_shared<FluxTransformerBlock>(dim, heads, head_dim)));
    auto singles = register_module("single_transformer_blocks", std::make_shared<nn::List>());
    for (int64_t i = 0; i < c.num_single_layers; ++i)
      single_transformer_blocks.push_back(
          singles->add(std::make_shared<FluxSingleTransformerBlock>(dim, heads, head_dim)));
    norm_out = register_module("norm_out", std::make_shared<flux::AdaLayerNormContinuous>(dim));
    proj_out = register_module("proj_out", std::make_shared<nn::Linear>(
                                               dim, c.patch_size * c.patch_size * c.out_channels));
  }
  FluxTransformerConfig config;
  std::shared_ptr<flux::TimeTextEmbedding> time_text_embed;
  std::shared_ptr<nn::Linear> context_embedder, x_embedder, proj_out;
  std::vector<std::shared_ptr<FluxTransformerBlock>> transformer_blocks;
  std::vector<std::shared_ptr<FluxSingleTransformerBlock>> single_transformer_blocks;
  std::shared_ptr<flux::AdaLayerNormContinuous> norm_out;
};

std::string shape_text(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

// diffusers accepts [1, S, 3] ids with a deprecation warning and uses the first entry.
at::Tensor ids_2d(const at::Tensor& ids) { return ids.dim() == 3 ? ids[0] : ids; }

// A [B] (or one-value) σ / guidance tensor as [B].
at::Tensor per_sample(const at::Tensor& t, int64_t batch) {
  at::Tensor flat = t.reshape({-1});
  return flat.numel() == 1 ? flat.expand({batch}) : flat;
}

void check_inputs(const FluxTransformerInputs& in, const FluxTransformerConfig& c) {
  auto fail = [](const std::string& what) { throw ModelError("FLUX transformer: " + what); };
  for (const auto* t : {&in.hidden_states, &in.encoder_hidden_states, &in.pooled_projections, &in.timestep,
                        &in.img_ids, &in.txt_ids})
    if (!t->defined())
      fail("hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids and txt_ids are all required");
  const at::Tensor& x = in.hidden_states;
  if (x.dim() != 3 || x.size(2) != c.in_channels)
    fail("hidden_states is " + shape_text(x) + ", expected [B, L, " + std::to_string(c.in_channels) + "]");
  const int64_t b = x.size(0);
  const at::Tensor& ctx = in.encoder_hidden_states;
  if (ctx.dim() != 3 || ctx.size(0) != b || ctx.size(2) != c.joint_attention_dim)
    fail("encoder_hidden_states is " + shape_text(ctx) + ", expected [" + std::to_string(b) + ", T, " +
         std::to_string(c.joint_attention_dim) + "]");
  if (in.pooled_projections.dim() != 2 || in.pooled_projections.size(0) != b ||
      in.pooled_projections.size(1) != c.pooled_projection_dim)
    fail("pooled_projections is " + shape_text(in.pooled_projections) + ", expected [" + std::to_string(b) + ", " +
         std::to_string(c.pooled_projection_dim) + "]");
  const at::Tensor img = ids_2d(in.img_ids), txt = ids_2d(in.txt_ids);
  const auto axes = static_cast<int64_t>(c.axes_dims_rope.size());
  if (img.dim() != 2 || img.size(0) != x.size(1) || img.size(1) != axes)
    fail("img_ids is " + shape_text(in.img_ids) + ", expected [" + std::to_string(x.size(1)) + ", " +
         std::to_string(axes) + "]");
  if (txt.dim() != 2 || txt.size(0) != ctx.size(1) || txt.size(1) != axes)
    fail("txt_ids is " + shape_text(in.txt_ids) + ", expected [" + std::to_string(ctx.size(1)) + ", " +
         std::to_string(axes) + "]");
  if (c.guidance_embeds != in.guidance.defined())
    fail(c.guidance_embeds ? "this transformer (guidance_embeds true) needs a guidance value"
                           : "guidance given, but this transformer has no guidance embedder (guidance_embeds false)");
}

// diffusers 0.32 with gradient checkpointing (transformer_flux.py): each double and each single block under
// torch.utils.checkpoint, temb and the rotary tables among the block's arguments. `checkpoint` false: the block.
using Tensors = std::vector<at::Tensor>;
using DoubleBlock = std::shared_ptr<FluxTransformerBlock>;
using SingleBlock = std::shared_ptr<FluxSingleTransformerBlock>;

std::pair<at::Tensor, at::Tensor> run_block(const DoubleBlock& b, const at::Tensor& image, const at::Tensor& text,
                                            const at::Tensor& temb, const flux::RotaryEmbedding& rope,
                                            bool checkpoint) {
  if (!checkpoint) return b->forward(image, text, temb, rope);
  auto run = [b](const Tensors& in) {
    const auto [t, h] = b->forward(in[0], in[1], in[2], {in[3], in[4]});
    return Tensors{t, h};
  };
  const Tensors out = nn::checkpointed(*b, run, {image, text, temb, rope.cos, rope.sin});
  return {out[0], out[1]};
}

at::Tensor run_block(const SingleBlock& b, const at::Tensor& tokens, const at::Tensor& temb,
                     const flux::RotaryEmbedding& rope, bool checkpoint) {
  if (!checkpoint) return b->forward(tokens, temb, rope);
  auto run = [b](const Tensors& in) { return Tensors{b->forward(in[0], in[1], {in[2], in[3]})}; };
  return nn::checkpointed(*b, run, {tokens, temb, rope.cos, rope.sin})[0];
}

FluxTransformerBlock::Streams run_block(const DoubleBlock& b, const FluxTransformerBlock::Streams& s,
                                        const at::Tensor& temb, const at::Tensor& cond_temb,
                                        const flux::RotaryEmbedding& rope, bool checkpoint) {
  if (!checkpoint) return b->forward_conditioned(s, temb, cond_temb, rope);
  auto run = [b](const Tensors& in) {
    const auto out = b->forward_conditioned({in[0], in[1], in[2]}, in[3], in[4], {in[5], in[6]});
    return Tensors{out.text, out.image, out.condition};
  };
  const Tensors out = nn::checkpointed(*b, run, {s.text, s.image, s.condition, temb, cond_temb, rope.cos, rope.sin});
  return {out[0], out[1], out[2]};
}

std::pair<at::Tensor, at::Tensor> run_block(const SingleBlock& b, const at::Tensor& tokens, const at::Tensor& condition,
                                            const at::Tensor& temb, const at::Tensor& cond_temb,
                                            const flux::RotaryEmbedding& rope, bool checkpoint) {
  if (!checkpoint) return b->forward_conditioned(tokens, condition, temb, cond_temb, rope);
  auto run = [b](const Tensors& in) {
    const auto [x, c] = b->forward_conditioned(in[0], in[1], in[2], in[3], {in[4], in[5]});
    return Tensors{x, c};
  };
  const Tensors out = nn::checkpointed(*b, run, {tokens, condition, temb, cond_temb, rope.cos, rope.sin});
  return {out[0], out[1]};
}

// Tensors already under diffusers' names, copied as strictly as load_module_weights does (every parameter present
// with its shape, no other key; the module has no buffers).
void copy_strict(FluxModule& net, std::map<std::string, at::Tensor> tensors, const std::string& label) {
  std::vector<std::string> problems;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const auto& item : net.named_parameters(/*recurse=*/true)) {
    const auto it = tensors.find(item.key());
    if (it == tensors.end()) {
      problems.push_back("missing " + item.key());
      continue;
    }
    if (it->second.sizes() != item.value().sizes())
      problems.push_back(item.key() + " is " + shape_text(it->second) + ", expected " + shape_text(item.value()));
    copies.emplace_back(item.value(), it->second);
    tensors.erase(it);
  }
  for (const auto& entry : tensors) problems.push_back("unexpected " + entry.first);
  if (!problems.empty()) {
    std::string message = "FLUX checkpoint " + label + " does not fit the transformer (" +
                          std::to_string(problems.size()) + " problems): ";
    for (size_t i = 0; i < problems.size() && i < 12; ++i) message += (i ? "; " : "") + problems[i];
    throw ModelError(message + (problems.size() > 12 ? "; ..." : ""));
  }
  at::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
}

// The prefix ComfyUI-style single files put before every key ("model.diffusion_model."), when all keys have it.
std::string common_prefix(const std::vector<std::string>& names) {
  for (const char* prefix : {"model.diffusion_model.", "diffusion_model."}) {
    bool all = !names.empty();
    for (const auto& n : names) all = all && n.rfind(prefix, 0) == 0;
    if (all) return prefix;
  }
  return "";
}

}  // namespace

FluxTransformerConfig FluxTransformerConfig::from_config(const DiffusersConfig& config) {
  config.expect_class("FluxTransformer2DModel");
  FluxTransformerConfig c;
  c.patch_size = config.get("patch_size", c.patch_size);
  c.in_channels = config.get("in_channels", c.in_channels);
  c.out_channels = config.get("out_channels", c.in_channels);  // None: in_channels (FLUX.1 [dev])
  c.num_layers = config.get("num_layers", c.num_layers);
  c.num_single_layers = config.get("num_single_layers", c.num_single_layers);
  c.attention_head_dim = config.get("attention_head_dim", c.attention_head_dim);
  c.num_attention_heads = config.get("num_attention_heads", c.num_attention_heads);
  c.joint_attention_dim = config.get("joint_attention_dim", c.joint_attention_dim);
  c.pooled_projection_dim = config.get("pooled_projection_dim", c.pooled_projection_dim);
  c.guidance_embeds = config.get("guidance_embeds", c.guidance_embeds);
  c.axes_dims_rope = config.get("axes_dims_rope", c.axes_dims_rope);
  for (int64_t v : {c.patch_size, c.in_channels, c.out_channels, c.attention_head_dim, c.num_attention_heads,
                    c.joint_attention_dim, c.pooled_projection_dim})
    if (v < 1) config.fail("channel counts, heads and patch_size must be positive");
  if (c.num_layers < 0 || c.num_single_layers < 0) config.fail("num_layers / num_single_layers must be >= 0");
  bool even = true;
  for (int64_t d : c.axes_dims_rope) even = even && d > 0 && d % 2 == 0;
  if (!even || std::accumulate(c.axes_dims_rope.begin(), c.axes_dims_rope.end(), int64_t{0}) != c.attention_head_dim)
    config.fail("axes_dims_rope must be positive even sizes that sum to attention_head_dim (" +
                std::to_string(c.attention_head_dim) + ")");
  return c;
}

FluxTransformerConfig FluxTransformerConfig::from_json(const std::string& text, const std::string& source) {
  return from_config(DiffusersConfig::parse(text, "FLUX transformer config", source));
}

FluxTransformerConfig FluxTransformerConfig::from_file(const std::filesystem::path& path) {
  return from_config(DiffusersConfig::read(path, "FLUX transformer config"));
}

struct FluxTransformer2DModel::Impl {
  std::shared_ptr<FluxModule> net;
  at::TensorOptions options;
  bool gradient_checkpointing = false;
};

FluxTransformer2DModel::FluxTransformer2DModel(const FluxTransformerConfig& config, at::TensorOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  nn::ParamOptionsScope scope(options);
  impl_->net = std::make_shared<FluxModule>(config);
}

FluxTransformer2DModel::~FluxTransformer2DModel() = default;
FluxTransformer2DModel::FluxTransformer2DModel(FluxTransformer2DModel&&) noexcept = default;
FluxTransformer2DModel& FluxTransformer2DModel::operator=(FluxTransformer2DModel&&) noexcept = default;

const FluxTransformerConfig& FluxTransformer2DModel::config() const { return impl_->net->config; }
int64_t FluxTransformer2DModel::output_features() const { return impl_->net->proj_out->weight.size(0); }
at::TensorOptions FluxTransformer2DModel::options() const { return impl_->options; }
void FluxTransformer2DModel::set_gradient_checkpointing(bool enabled) { impl_->gradient_checkpointing = enabled; }
bool FluxTransformer2DModel::gradient_checkpointing() const { return impl_->gradient_checkpointing; }
torch::nn::Module& FluxTransformer2DModel::module() { return *impl_->net; }

at::Tensor FluxTransformer2DModel::time_projection(const at::Tensor& value, at::ScalarType dtype) {
  // diffusers: `timestep.to(hidden_states.dtype) * 1000`, then Timesteps(256, flip_sin_to_cos=True, shift=0).
  return nn::timestep_embedding(value.to(dtype) * 1000, flux::TimeTextEmbedding::kProjectionDim, true, 0.0);
}

// temb from σ (and guidance) and the pooled text: the sinusoids of 1000·value in the model dtype (or float32).
at::Tensor FluxTransformer2DModel::time_embedding(const at::Tensor& timestep, const FluxTransformerInputs& in,
                                                  int64_t batch) const {
  const FluxModule& net = *impl_->net;
  const auto options = impl_->options;
  const auto dtype = options.dtype().toScalarType();
  const at::ScalarType time_dtype = in.time_in_float32 ? at::kFloat : dtype;
  const at::Tensor t_proj = time_projection(per_sample(timestep.to(options.device()), batch), time_dtype).to(dtype);
  const at::Tensor g_proj =
      in.guidance.defined() ? time_projection(per_sample(in.guidance.to(options.device()), batch), time_dtype).to(dtype)
                            : at::Tensor();
  return net.time_text_embed->forward(t_proj, g_proj, in.pooled_projections.to(options));
}

// Differentiable (the trainer's runtime adapters and proj_out get gradients); inference callers hold a no-grad guard.
at::Tensor FluxTransformer2DModel::forward(const FluxTransformerInputs& in) const {
  const FluxModule& net = *impl_->net;
  check_inputs(in, net.config);
  const auto options = impl_->options;
  at::Tensor image = net.x_embedder->forward(in.hidden_states.to(options));
  const at::Tensor temb = time_embedding(in.timestep, in, image.size(0));
  at::Tensor text = net.context_embedder->forward(in.encoder_hidden_states.to(options));
  const at::Tensor ids = at::cat({ids_2d(in.txt_ids), ids_2d(in.img_ids)}, 0).to(options.device());
  const flux::RotaryEmbedding rope = flux::rotary_embedding(ids, net.config.axes_dims_rope);
  const bool checkpoint = impl_->gradient_checkpointing;
  for (const auto& block : net.transformer_blocks)
    std::tie(text, image) = run_block(block, image, text, temb, rope, checkpoint);
  at::Tensor tokens = at::cat({text, image}, 1);
  for (const auto& block : net.single_transformer_blocks) tokens = run_block(block, tokens, temb, rope, checkpoint);
  const int64_t text_len = text.size(1);
  image = tokens.narrow(1, text_len, tokens.size(1) - text_len);
  return net.proj_out->forward(net.norm_out->forward(image, temb)).contiguous();
}

at::Tensor FluxTransformer2DModel::forward(const FluxTransformerInputs& in, const FluxConditionTokens& cond) const {
  const FluxModule& net = *impl_->net;
  check_inputs(in, net.config);
  const at::Tensor& c = cond.hidden_states;
  if (!c.defined() || c.dim() != 3 || c.size(0) != in.hidden_states.size(0) || c.size(2) != net.config.in_channels ||
      !cond.ids.defined() || ids_2d(cond.ids).dim() != 2 || ids_2d(cond.ids).size(0) != c.size(1))
    throw ModelError("FLUX transformer: condition tokens must be [B, Lc, " + std::to_string(net.config.in_channels) +
                     "] with ids [Lc, 3] (got " + (c.defined() ? shape_text(c) : "none") + ")");
  const auto options = impl_->options;
  flux::FluxTransformerBlock::Streams s;
  s.image = flux::without_adapter(*net.x_embedder, in.hidden_states.to(options));
  s.condition = net.x_embedder->forward(c.to(options));
  const int64_t batch = s.image.size(0);
  const at::Tensor temb = time_embedding(in.timestep, in, batch);
  const at::Tensor cond_temb = time_embedding(at::full({batch}, cond.timestep, at::kFloat), in, batch);
  s.text = net.context_embedder->forward(in.encoder_hidden_states.to(options));
  const at::Tensor ids =
      at::cat({ids_2d(in.txt_ids).to(at::kFloat), ids_2d(in.img_ids).to(at::kFloat), ids_2d(cond.ids).to(at::kFloat)}, 0);
  const flux::RotaryEmbedding rope = flux::rotary_embedding(ids.to(options.device()), net.config.axes_dims_rope);
  const bool checkpoint = impl_->gradient_checkpointing;
  for (const auto& block : net.transformer_blocks) s = run_block(block, s, temb, cond_temb, rope, checkpoint);
  at::Tensor tokens = at::cat({s.text, s.image}, 1), condition = s.condition;
  for (const auto& block : net.single_transformer_blocks)
    std::tie(tokens, condition) = run_block(block, tokens, condition, temb, cond_temb, rope, checkpoint);
  const int64_t text_len = s.text.size(1);
  const at::Tensor image = tokens.narrow(1, text_len, tokens.size(1) - text_len);
  return net.proj_out->forward(net.norm_out->forward(image, temb)).contiguous();
}

void FluxTransformer2DModel::load(const std::vector<std::filesystem::path>& files) {
  std::vector<SafetensorsFile> opened;  // mapped; headers read only
  std::vector<std::string> names;
  for (const auto& f : files) {
    opened.push_back(SafetensorsFile::open(f));
    for (const auto& n : opened.back().names()) names.push_back(n);
  }
  const std::string prefix = common_prefix(names);
  if (prefix.empty() && !flux::is_bfl_layout(names)) return load_module_weights(*impl_->net, files);
  // BFL names (single-file or sharded) and/or a model.diffusion_model. prefix: renamed in memory, then copied.
  std::map<std::string, at::Tensor> tensors;
  for (const auto& file : opened)
    for (const auto& n : file.names()) tensors.emplace(n.substr(prefix.size()), file.tensor(n));
  const std::string label = opened.empty() ? "" : opened.front().label() +
                            (opened.size() > 1 ? " (+" + std::to_string(opened.size() - 1) + " shards)" : "");
  std::vector<std::string> stripped;
  for (const auto& entry : tensors) stripped.push_back(entry.first);
  if (flux::is_bfl_layout(stripped))
    tensors = flux::bfl_to_diffusers(tensors, impl_->net->config.inner_dim(), label);
  copy_strict(*impl_->net, std::move(tensors), label);
}

void FluxTransformer2DModel::randomize(uint64_t seed) {
  nn::randomize_parameters(*impl_->net, seed);
  // randomize_parameters knows the nn:: layers only: the per-head RMSNorm scales start at 1 (diffusers' init).
  at::NoGradGuard no_grad;
  for (const auto& item : impl_->net->named_modules("", false))
    if (auto* norm = dynamic_cast<flux::RMSNorm*>(item.value().get())) norm->weight.fill_(1.0);
}

void FluxTransformer2DModel::widen_x_embedder(int64_t in_channels) {
  FluxModule& net = *impl_->net;
  nn::Linear& x = *net.x_embedder;
  const int64_t old = x.weight.size(1);
  if (in_channels < old || x.lora.down.defined())
    throw ModelError("FLUX transformer: cannot widen x_embedder from " + std::to_string(old) + " to " +
                     std::to_string(in_channels) + " input features" +
                     (x.lora.down.defined() ? " (a runtime LoRA adapter is attached)" : ""));
  at::NoGradGuard no_grad;
  at::Tensor w = at::zeros({x.weight.size(0), in_channels}, x.weight.options());
  w.narrow(1, 0, old).copy_(x.weight);
  x.weight.set_data(w);
  net.config.in_channels = in_channels;
}

int64_t FluxTransformer2DModel::parameter_count() const { return nn::parameter_count(*impl_->net); }

}  // namespace osor::model
