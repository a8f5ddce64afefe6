#include "model/unet/unet_2d_condition.h"

#include <optional>

#include "model/error.h"
#include "model/io/diffusers_config.h"
#include "model/io/module_weights.h"
#include "model/nn/activation_checkpoint.h"
#include "model/nn/blocks.h"

namespace osor::model {
namespace {

using nn::Conv2d;
using nn::List;
using nn::ResnetBlock2D;
using nn::Transformer2DModel;

struct BlockShape {
  int64_t temb = 0, groups = 32, context_dim = 0;
  double eps = 1e-5;
  bool linear_projection = true;
};

// The ResnetBlock2D and the Transformer2DModel (heads of channels / heads each) as every block here builds them.
std::shared_ptr<ResnetBlock2D> resnet(int64_t in, int64_t out, const BlockShape& s) {
  return std::make_shared<ResnetBlock2D>(in, out, s.temb, s.groups, s.eps);
}

std::shared_ptr<Transformer2DModel> transformer(int64_t channels, int64_t heads, int64_t depth, const BlockShape& s) {
  return std::make_shared<Transformer2DModel>(heads, channels / heads, channels, depth, s.context_dim, s.groups,
                                              s.linear_projection);
}

// diffusers 0.32 with gradient checkpointing (unet_2d_blocks.py): the resnets of the down and up blocks, and the mid
// block's resnets after the first, run under torch.utils.checkpoint; the attentions are called as they are and
// checkpoint each of their transformer blocks (Transformer2DModel::forward's checkpoint_blocks).
at::Tensor run_resnet(const std::shared_ptr<ResnetBlock2D>& resnet, const at::Tensor& h, const at::Tensor& temb,
                      bool checkpoint) {
  if (!checkpoint) return resnet->forward(h, temb);
  auto run = [resnet](const std::vector<at::Tensor>& in) {
    return std::vector<at::Tensor>{resnet->forward(in[0], in[1])};
  };
  return nn::checkpointed(*resnet, run, {h, temb})[0];
}

// DownBlock2D (no attentions) and CrossAttnDownBlock2D: (resnet [→ transformer]) × layers, then a stride-2 conv;
// every stage's output is kept as a skip connection.
class DownBlock : public torch::nn::Module {
 public:
  DownBlock(int64_t in, int64_t out, int64_t layers, bool cross_attention, int64_t heads, int64_t depth,
            bool add_downsample, int64_t padding, const BlockShape& s) {
    auto res = register_module("resnets", std::make_shared<List>());
    std::shared_ptr<List> att;
    if (cross_attention) att = register_module("attentions", std::make_shared<List>());
    for (int64_t i = 0; i < layers; ++i) {
      resnets.push_back(res->add(resnet(i == 0 ? in : out, out, s)));
      if (att) attentions.push_back(att->add(transformer(out, heads, depth, s)));
    }
    if (add_downsample) {
      auto d = register_module("downsamplers", std::make_shared<List>());
      downsampler = d->add(std::make_shared<nn::Downsample2D>(out, padding));
    }
  }
  at::Tensor forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& ctx, std::vector<at::Tensor>& skips,
                     bool checkpoint) const {
    for (size_t i = 0; i < resnets.size(); ++i) {
      h = run_resnet(resnets[i], h, temb, checkpoint);
      if (!attentions.empty()) h = attentions[i]->forward(h, ctx, checkpoint);
      skips.push_back(h);
    }
    if (downsampler) {
      h = downsampler->forward(h);
      skips.push_back(h);
    }
    return h;
  }
  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::vector<std::shared_ptr<Transformer2DModel>> attentions;
  std::shared_ptr<nn::Downsample2D> downsampler;
};

// UpBlock2D and CrossAttnUpBlock2D: (concat skip → resnet [→ transformer]) × (layers + 1), then an upsampler.
class UpBlock : public torch::nn::Module {
 public:
  UpBlock(int64_t in, int64_t prev_out, int64_t out, int64_t layers, bool cross_attention, int64_t heads,
          int64_t depth, bool add_upsample, const BlockShape& s) {
    auto res = register_module("resnets", std::make_shared<List>());
    std::shared_ptr<List> att;
    if (cross_attention) att = register_module("attentions", std::make_shared<List>());
    for (int64_t i = 0; i < layers; ++i) {
      const int64_t skip = i == layers - 1 ? in : out, res_in = i == 0 ? prev_out : out;
      resnets.push_back(res->add(resnet(res_in + skip, out, s)));
      if (att) attentions.push_back(att->add(transformer(out, heads, depth, s)));
    }
    if (add_upsample) {
      auto u = register_module("upsamplers", std::make_shared<List>());
      upsampler = u->add(std::make_shared<nn::Upsample2D>(out));
    }
  }
  at::Tensor forward(at::Tensor h, std::vector<at::Tensor>& skips, const at::Tensor& temb, const at::Tensor& ctx,
                     bool forward_upsample_size, bool checkpoint) const {
    for (size_t i = 0; i < resnets.size(); ++i) {
      h = at::cat({h, skips.back()}, 1);
      skips.pop_back();
      h = run_resnet(resnets[i], h, temb, checkpoint);
      if (!attentions.empty()) h = attentions[i]->forward(h, ctx, checkpoint);
    }
    if (upsampler) {
      std::optional<std::pair<int64_t, int64_t>> size;
      if (forward_upsample_size && !skips.empty()) size = std::make_pair(skips.back().size(2), skips.back().size(3));
      h = upsampler->forward(h, size);
    }
    return h;
  }
  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::vector<std::shared_ptr<Transformer2DModel>> attentions;
  std::shared_ptr<nn::Upsample2D> upsampler;
};

// UNetMidBlock2DCrossAttn with one layer: resnets.0 → attentions.0 → resnets.1.
class MidBlock : public torch::nn::Module {
 public:
  MidBlock(int64_t channels, int64_t heads, int64_t depth, const BlockShape& s) {
    auto res = register_module("resnets", std::make_shared<List>());
    auto att = register_module("attentions", std::make_shared<List>());
    r0 = res->add(resnet(channels, channels, s));
    attention = att->add(transformer(channels, heads, depth, s));
    r1 = res->add(resnet(channels, channels, s));
  }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& ctx, bool checkpoint) const {
    return run_resnet(r1, attention->forward(r0->forward(x, temb), ctx, checkpoint), temb, checkpoint);
  }
  std::shared_ptr<ResnetBlock2D> r0, r1;
  std::shared_ptr<Transformer2DModel> attention;
};

class UNetModule : public torch::nn::Module {
 public:
  explicit UNetModule(const UNetConfig& c) : config(c) {
    const auto& ch = c.block_out_channels;
    const size_t n = ch.size();
    const int64_t temb = c.time_embedding_dim > 0 ? c.time_embedding_dim : 4 * ch[0];
    BlockShape s{temb, c.norm_num_groups, c.cross_attention_dim, c.norm_eps, c.use_linear_projection};
    conv_in = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, ch[0], c.conv_in_kernel, 1,
                                                                  (c.conv_in_kernel - 1) / 2));
    time_embedding = register_module("time_embedding", std::make_shared<nn::TimestepEmbedding>(ch[0], temb));
    if (c.addition_embed_type == "text_time")
      add_embedding = register_module("add_embedding", std::make_shared<nn::TimestepEmbedding>(
                                                           c.projection_class_embeddings_input_dim, temb));
    auto down = register_module("down_blocks", std::make_shared<List>());
    int64_t out = ch[0];
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = out;
      out = ch[i];
      down_blocks.push_back(down->add(std::make_shared<DownBlock>(
          in, out, c.layers_per_block, c.down_block_types[i] == "CrossAttnDownBlock2D", c.num_attention_heads[i],
          c.transformer_layers_per_block[i], i + 1 < n, c.downsample_padding, s)));
    }
    if (c.mid_block)
      mid_block = register_module("mid_block", std::make_shared<MidBlock>(ch.back(), c.num_attention_heads.back(),
                                                                          c.transformer_layers_per_block.back(), s));
    auto up = register_module("up_blocks", std::make_shared<List>());
    std::vector<int64_t> rch(ch.rbegin(), ch.rend()), rheads(c.num_attention_heads.rbegin(), c.num_attention_heads.rend());
    std::vector<int64_t> rdepth = c.reverse_transformer_layers_per_block;
    if (rdepth.empty()) rdepth.assign(c.transformer_layers_per_block.rbegin(), c.transformer_layers_per_block.rend());
    out = rch[0];
    for (size_t i = 0; i < n; ++i) {
      const int64_t prev = out;
      out = rch[i];
      const int64_t in = rch[std::min(i + 1, n - 1)];
      up_blocks.push_back(up->add(std::make_shared<UpBlock>(in, prev, out, c.layers_per_block + 1,
                                                            c.up_block_types[i] == "CrossAttnUpBlock2D", rheads[i],
                                                            rdepth[i], i + 1 < n, s)));
    }
    conv_norm_out = register_module("conv_norm_out", std::make_shared<nn::GroupNorm>(c.norm_num_groups, ch[0], c.norm_eps));
    conv_out = register_module("conv_out", std::make_shared<Conv2d>(ch[0], c.out_channels, c.conv_out_kernel, 1,
                                                                     (c.conv_out_kernel - 1) / 2));
  }
  UNetConfig config;
  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::shared_ptr<nn::TimestepEmbedding> time_embedding, add_embedding;
  std::vector<std::shared_ptr<DownBlock>> down_blocks;
  std::vector<std::shared_ptr<UpBlock>> up_blocks;
  std::shared_ptr<MidBlock> mid_block;
  std::shared_ptr<nn::GroupNorm> conv_norm_out;
};

// The scalar settings: channels, kernels, embedding sizes, norms.
void read_scalars(const DiffusersConfig& config, UNetConfig& c) {
  c.in_channels = config.get("in_channels", c.in_channels);
  c.out_channels = config.get("out_channels", c.out_channels);
  c.layers_per_block = config.get("layers_per_block", c.layers_per_block);
  c.norm_num_groups = config.get("norm_num_groups", c.norm_num_groups);
  c.addition_time_embed_dim = config.get("addition_time_embed_dim", c.addition_time_embed_dim);
  c.projection_class_embeddings_input_dim =
      config.get("projection_class_embeddings_input_dim", c.projection_class_embeddings_input_dim);
  c.downsample_padding = config.get("downsample_padding", c.downsample_padding);
  c.conv_in_kernel = config.get("conv_in_kernel", c.conv_in_kernel);
  c.conv_out_kernel = config.get("conv_out_kernel", c.conv_out_kernel);
  c.time_embedding_dim = config.get("time_embedding_dim", c.time_embedding_dim);
  c.norm_eps = config.get("norm_eps", c.norm_eps);
  c.freq_shift = config.get("freq_shift", c.freq_shift);
  c.flip_sin_to_cos = config.get("flip_sin_to_cos", c.flip_sin_to_cos);
  c.use_linear_projection = config.get("use_linear_projection", c.use_linear_projection);
  c.addition_embed_type = config.get("addition_embed_type", c.addition_embed_type);
  if (!c.addition_embed_type.empty() && c.addition_embed_type != "text_time")
    config.fail("addition_embed_type " + c.addition_embed_type + " is not supported (only text_time)");
  if (config.is_list("cross_attention_dim")) config.fail("a per-block cross_attention_dim is not supported");
  c.cross_attention_dim = config.get("cross_attention_dim", c.cross_attention_dim);
}

// The block structure: channels and block types per level, the mid block, heads and transformer depth per block.
void read_blocks(const DiffusersConfig& config, UNetConfig& c) {
  c.block_out_channels = config.get("block_out_channels", c.block_out_channels);
  c.down_block_types = config.get("down_block_types", c.down_block_types);
  c.up_block_types = config.get("up_block_types", c.up_block_types);
  const size_t n = c.block_out_channels.size();
  if (n == 0) config.fail("block_out_channels is empty");
  if (c.down_block_types.size() != n || c.up_block_types.size() != n)
    config.fail("down_block_types / up_block_types must have one entry per block_out_channels entry");
  for (const auto& t : c.down_block_types)
    if (t != "DownBlock2D" && t != "CrossAttnDownBlock2D") config.fail("down block type " + t + " is not supported");
  for (const auto& t : c.up_block_types)
    if (t != "UpBlock2D" && t != "CrossAttnUpBlock2D") config.fail("up block type " + t + " is not supported");
  if (config.is_null("mid_block_type"))  // None: no mid block
    c.mid_block = false;
  else
    config.expect_one_of("mid_block_type", {"UNetMidBlock2DCrossAttn"});
  // diffusers' legacy naming: attention_head_dim holds the number of heads when num_attention_heads is unset.
  const char* heads = config.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
  c.num_attention_heads = config.per_block(heads, n, 8);
  c.transformer_layers_per_block = config.per_block("transformer_layers_per_block", n, 1);
  if (config.has("reverse_transformer_layers_per_block"))
    c.reverse_transformer_layers_per_block = config.per_block("reverse_transformer_layers_per_block", n, 1);
  for (size_t i = 0; i < n; ++i)
    if (c.num_attention_heads[i] < 1 || c.block_out_channels[i] % c.num_attention_heads[i] != 0)
      config.fail("block_out_channels[" + std::to_string(i) + "] is not divisible by its number of heads");
}

// diffusers options this port implements in their default setting only.
void refuse_unimplemented(const DiffusersConfig& config) {
  config.expect_one_of("act_fn", {"silu"});
  config.expect_one_of("time_embedding_type", {"positional"});
  config.expect_one_of("resnet_time_scale_shift", {"default"});
  config.expect_one_of("center_input_sample", {"false"});
  config.expect_one_of("only_cross_attention", {"false"});
  config.expect_one_of("dual_cross_attention", {"false"});
  config.expect_one_of("class_embed_type", {});
  config.expect_one_of("encoder_hid_dim_type", {});
  config.expect_one_of("time_cond_proj_dim", {});
  config.expect_one_of("timestep_post_act", {});
  config.expect_one_of("mid_block_scale_factor", {"1", "1.0"});
  config.expect_one_of("resnet_out_scale_factor", {"1", "1.0"});
}

}  // namespace

UNetConfig UNetConfig::from_config(const DiffusersConfig& config) {
  config.expect_class("UNet2DConditionModel");
  UNetConfig c;
  read_scalars(config, c);
  read_blocks(config, c);
  refuse_unimplemented(config);
  return c;
}

UNetConfig UNetConfig::from_json(const std::string& text, const std::string& source) {
  return from_config(DiffusersConfig::parse(text, "UNet config", source));
}

UNetConfig UNetConfig::from_file(const std::filesystem::path& path) {
  return from_config(DiffusersConfig::read(path, "UNet config"));
}

struct UNet2DConditionModel::Impl {
  std::shared_ptr<UNetModule> net;
  at::TensorOptions options;
  at::MemoryFormat memory_format = at::MemoryFormat::Contiguous;
  bool gradient_checkpointing = false;
};

UNet2DConditionModel::UNet2DConditionModel(const UNetConfig& config, at::TensorOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  nn::ParamOptionsScope scope(options);
  impl_->net = std::make_shared<UNetModule>(config);
}

UNet2DConditionModel::~UNet2DConditionModel() = default;
UNet2DConditionModel::UNet2DConditionModel(UNet2DConditionModel&&) noexcept = default;
UNet2DConditionModel& UNet2DConditionModel::operator=(UNet2DConditionModel&&) noexcept = default;

const UNetConfig& UNet2DConditionModel::config() const { return impl_->net->config; }
int64_t UNet2DConditionModel::conv_out_channels() const { return impl_->net->conv_out->weight.size(0); }
at::TensorOptions UNet2DConditionModel::options() const { return impl_->options; }
torch::nn::Module& UNet2DConditionModel::module() { return *impl_->net; }

void UNet2DConditionModel::set_memory_format(at::MemoryFormat format) {
  if (format != at::MemoryFormat::Contiguous && format != at::MemoryFormat::ChannelsLast)
    throw ModelError("UNet: memory format must be Contiguous or ChannelsLast");
  nn::set_conv_memory_format(*impl_->net, format);
  impl_->memory_format = format;
}

at::MemoryFormat UNet2DConditionModel::memory_format() const { return impl_->memory_format; }

void UNet2DConditionModel::set_gradient_checkpointing(bool enabled) { impl_->gradient_checkpointing = enabled; }
bool UNet2DConditionModel::gradient_checkpointing() const { return impl_->gradient_checkpointing; }

at::Tensor UNet2DConditionModel::forward(const at::Tensor& sample_in, const at::Tensor& timestep,
                                         const at::Tensor& encoder_hidden_states, const at::Tensor& text_embeds,
                                         const at::Tensor& time_ids) const {
  const UNetModule& net = *impl_->net;
  const UNetConfig& c = net.config;
  const auto dtype = impl_->options.dtype();
  const at::Tensor sample = sample_in.to(dtype).contiguous(impl_->memory_format);
  const int64_t batch = sample.size(0);
  if (sample.size(1) != c.in_channels)
    throw ModelError("UNet: sample has " + std::to_string(sample.size(1)) + " channels, the config expects " +
                     std::to_string(c.in_channels));
  at::Tensor t = timestep.reshape({-1});
  if (t.numel() == 1) t = t.expand({batch});
  const at::Tensor t_emb = nn::timestep_embedding(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift).to(dtype);
  at::Tensor emb = net.time_embedding->forward(t_emb);
  if (net.add_embedding) {
    if (!text_embeds.defined() || !time_ids.defined())
      throw ModelError("UNet: addition_embed_type text_time needs text_embeds and time_ids");
    const at::Tensor time_embeds = nn::timestep_embedding(time_ids.reshape({-1}), c.addition_time_embed_dim,
                                                          c.flip_sin_to_cos, c.freq_shift)
                                       .reshape({text_embeds.size(0), -1});
    const at::Tensor add = at::cat({text_embeds.to(time_embeds.scalar_type()), time_embeds}, -1).to(dtype);
    emb = emb + net.add_embedding->forward(add);
  }
  const at::Tensor ctx = encoder_hidden_states.to(dtype);

  const int64_t factor = int64_t{1} << (c.block_out_channels.size() - 1);
  const bool forward_upsample_size = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;
  at::Tensor h = net.conv_in->forward(sample);
  std::vector<at::Tensor> skips{h};
  const bool checkpoint = impl_->gradient_checkpointing;
  for (const auto& b : net.down_blocks) h = b->forward(h, emb, ctx, skips, checkpoint);
  if (net.mid_block) h = net.mid_block->forward(h, emb, ctx, checkpoint);
  for (const auto& b : net.up_blocks) h = b->forward(h, skips, emb, ctx, forward_upsample_size, checkpoint);
  return net.conv_out->forward(at::silu(net.conv_norm_out->forward(h))).contiguous();
}

void UNet2DConditionModel::load(const std::vector<std::filesystem::path>& files) {
  load_module_weights(*impl_->net, files);
}

void UNet2DConditionModel::randomize(uint64_t seed) { nn::randomize_parameters(*impl_->net, seed); }

int64_t UNet2DConditionModel::parameter_count() const { return nn::parameter_count(*impl_->net); }

}  // namespace osor::model
