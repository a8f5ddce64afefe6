#include "model/vae/autoencoder_kl.h"

#include "model/error.h"
#include "model/io/diffusers_config.h"
#include "model/io/module_weights.h"
#include "model/nn/blocks.h"

namespace osor::model {
namespace {

using nn::Attention;
using nn::Conv2d;
using nn::GroupNorm;
using nn::List;
using nn::ResnetBlock2D;

constexpr double kVaeEps = 1e-6;  // diffusers' Encoder/Decoder: resnet_eps 1e-6, GroupNorm out eps 1e-6

// resnets.0 → attentions.0 → resnets.1 (diffusers UNetMidBlock2D without time embedding, one head over all
// channels, residual attention with its own group_norm).
class MidBlock : public torch::nn::Module {
 public:
  MidBlock(int64_t channels, int64_t groups, bool with_attention) {
    auto res = register_module("resnets", std::make_shared<List>());
    if (with_attention) {
      auto att = register_module("attentions", std::make_shared<List>());
      attention = att->add(std::make_shared<Attention>(channels, 0, 1, channels, true, groups, kVaeEps));
    }
    r0 = res->add(std::make_shared<ResnetBlock2D>(channels, channels, 0, groups, kVaeEps));
    r1 = res->add(std::make_shared<ResnetBlock2D>(channels, channels, 0, groups, kVaeEps));
  }
  at::Tensor forward(const at::Tensor& x) const {
    at::Tensor h = r0->forward(x);
    if (attention) h = attention->forward_spatial(h);
    return r1->forward(h);
  }
  std::shared_ptr<ResnetBlock2D> r0, r1;
  std::shared_ptr<Attention> attention;
};

// DownEncoderBlock2D / UpDecoderBlock2D: `layers` resnets, then an optional down/up sampler.
class SamplingBlock : public torch::nn::Module {
 public:
  SamplingBlock(int64_t in, int64_t out, int64_t layers, int64_t groups, bool down, bool add_sampler) {
    auto res = register_module("resnets", std::make_shared<List>());
    for (int64_t i = 0; i < layers; ++i)
      resnets.push_back(res->add(std::make_shared<ResnetBlock2D>(i == 0 ? in : out, out, 0, groups, kVaeEps)));
    if (add_sampler) {
      if (down) {
        auto s = register_module("downsamplers", std::make_shared<List>());
        downsampler = s->add(std::make_shared<nn::Downsample2D>(out, 0));
      } else {
        auto s = register_module("upsamplers", std::make_shared<List>());
        upsampler = s->add(std::make_shared<nn::Upsample2D>(out));
      }
    }
  }
  at::Tensor forward(at::Tensor x) const {
    for (const auto& r : resnets) x = r->forward(x);
    if (downsampler) x = downsampler->forward(x);
    if (upsampler) x = upsampler->forward(x);
    return x;
  }
  std::vector<std::shared_ptr<ResnetBlock2D>> resnets;
  std::shared_ptr<nn::Downsample2D> downsampler;
  std::shared_ptr<nn::Upsample2D> upsampler;
};

class Encoder : public torch::nn::Module {
 public:
  explicit Encoder(const VaeConfig& c) {
    const auto& ch = c.block_out_channels;
    conv_in = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, ch[0], 3, 1, 1));
    auto down = register_module("down_blocks", std::make_shared<List>());
    int64_t prev = ch[0];
    for (size_t i = 0; i < ch.size(); ++i) {
      blocks.push_back(down->add(std::make_shared<SamplingBlock>(prev, ch[i], c.layers_per_block, c.norm_num_groups,
                                                                 true, i + 1 < ch.size())));
      prev = ch[i];
    }
    mid = register_module("mid_block", std::make_shared<MidBlock>(ch.back(), c.norm_num_groups,
                                                                  c.mid_block_add_attention));
    conv_norm_out = register_module("conv_norm_out", std::make_shared<GroupNorm>(c.norm_num_groups, ch.back(), kVaeEps));
    conv_out = register_module("conv_out", std::make_shared<Conv2d>(ch.back(), 2 * c.latent_channels, 3, 1, 1));
  }
  at::Tensor forward(const at::Tensor& x) const {
    at::Tensor h = conv_in->forward(x);
    for (const auto& b : blocks) h = b->forward(h);
    h = mid->forward(h);
    return conv_out->forward(at::silu(conv_norm_out->forward(h)));
  }
  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::vector<std::shared_ptr<SamplingBlock>> blocks;
  std::shared_ptr<MidBlock> mid;
  std::shared_ptr<GroupNorm> conv_norm_out;
};

class Decoder : public torch::nn::Module {
 public:
  explicit Decoder(const VaeConfig& c) {
    const auto& ch = c.block_out_channels;
    conv_in = register_module("conv_in", std::make_shared<Conv2d>(c.latent_channels, ch.back(), 3, 1, 1));
    mid = register_module("mid_block", std::make_shared<MidBlock>(ch.back(), c.norm_num_groups,
                                                                  c.mid_block_add_attention));
    auto up = register_module("up_blocks", std::make_shared<List>());
    int64_t prev = ch.back();
    for (size_t i = 0; i < ch.size(); ++i) {
      const int64_t out = ch[ch.size() - 1 - i];
      blocks.push_back(up->add(std::make_shared<SamplingBlock>(prev, out, c.layers_per_block + 1, c.norm_num_groups,
                                                               false, i + 1 < ch.size())));
      prev = out;
    }
    conv_norm_out = register_module("conv_norm_out", std::make_shared<GroupNorm>(c.norm_num_groups, ch[0], kVaeEps));
    conv_out = register_module("conv_out", std::make_shared<Conv2d>(ch[0], c.out_channels, 3, 1, 1));
  }
  at::Tensor forward(const at::Tensor& z) const {
    at::Tensor h = mid->forward(conv_in->forward(z));
    for (const auto& b : blocks) h = b->forward(h);
    return conv_out->forward(at::silu(conv_norm_out->forward(h)));
  }
  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::vector<std::shared_ptr<SamplingBlock>> blocks;
  std::shared_ptr<MidBlock> mid;
  std::shared_ptr<GroupNorm> conv_norm_out;
};

class VaeModule : public torch::nn::Module {
 public:
  explicit VaeModule(const VaeConfig& c) {
    encoder = register_module("encoder", std::make_shared<Encoder>(c));
    decoder = register_module("decoder", std::make_shared<Decoder>(c));
    if (c.use_quant_conv)
      quant_conv = register_module("quant_conv", std::make_shared<Conv2d>(2 * c.latent_channels, 2 * c.latent_channels, 1));
    if (c.use_post_quant_conv)
      post_quant_conv = register_module("post_quant_conv", std::make_shared<Conv2d>(c.latent_channels, c.latent_channels, 1));
  }
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Decoder> decoder;
  std::shared_ptr<Conv2d> quant_conv, post_quant_conv;
};

// down_block_types / up_block_types, when given: `type` (the one block kind this port builds) for each of `blocks`.
void check_block_types(const DiffusersConfig& config, const std::string& key, const std::string& type, size_t blocks) {
  if (!config.has(key)) return;
  const auto types = config.get<std::vector<std::string>>(key, {});
  if (types.size() != blocks)
    config.fail(key + " has " + std::to_string(types.size()) + " entries but block_out_channels has " +
                std::to_string(blocks));
  for (const auto& t : types)
    if (t != type) config.fail(key + ": block type " + t + " is not supported (only " + type + ")");
}

}  // namespace

VaeConfig VaeConfig::from_config(const DiffusersConfig& config) {
  config.expect_class("AutoencoderKL");
  VaeConfig c;
  c.in_channels = config.get("in_channels", c.in_channels);
  c.out_channels = config.get("out_channels", c.out_channels);
  c.latent_channels = config.get("latent_channels", c.latent_channels);
  c.layers_per_block = config.get("layers_per_block", c.layers_per_block);
  c.norm_num_groups = config.get("norm_num_groups", c.norm_num_groups);
  c.block_out_channels = config.get("block_out_channels", c.block_out_channels);
  c.use_quant_conv = config.get("use_quant_conv", c.use_quant_conv);
  c.use_post_quant_conv = config.get("use_post_quant_conv", c.use_post_quant_conv);
  c.mid_block_add_attention = config.get("mid_block_add_attention", c.mid_block_add_attention);
  c.scaling_factor = config.get("scaling_factor", c.scaling_factor);
  c.shift_factor = config.get_optional<double>("shift_factor");
  c.force_upcast = config.get("force_upcast", c.force_upcast);
  if (c.block_out_channels.empty()) config.fail("block_out_channels is empty");
  config.expect_one_of("act_fn", {"silu"}, " (only silu)");
  check_block_types(config, "down_block_types", "DownEncoderBlock2D", c.block_out_channels.size());
  check_block_types(config, "up_block_types", "UpDecoderBlock2D", c.block_out_channels.size());
  return c;
}

VaeConfig VaeConfig::from_json(const std::string& text, const std::string& source) {
  return from_config(DiffusersConfig::parse(text, "VAE config", source));
}

VaeConfig VaeConfig::from_file(const std::filesystem::path& path) {
  return from_config(DiffusersConfig::read(path, "VAE config"));
}

at::Tensor Posterior::sample(const at::Tensor& noise) const { return mean + std * noise.to(mean.options()); }

struct AutoencoderKL::Impl {
  VaeConfig config;
  std::shared_ptr<VaeModule> net;
  at::TensorOptions options;
};

AutoencoderKL::AutoencoderKL(const VaeConfig& config, at::TensorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->options = options;
  nn::ParamOptionsScope scope(options);
  impl_->net = std::make_shared<VaeModule>(config);
}

AutoencoderKL::~AutoencoderKL() = default;
AutoencoderKL::AutoencoderKL(AutoencoderKL&&) noexcept = default;
AutoencoderKL& AutoencoderKL::operator=(AutoencoderKL&&) noexcept = default;

const VaeConfig& AutoencoderKL::config() const { return impl_->config; }
at::TensorOptions AutoencoderKL::options() const { return impl_->options; }
torch::nn::Module& AutoencoderKL::module() { return *impl_->net; }

Posterior AutoencoderKL::encode(const at::Tensor& image) const {
  at::NoGradGuard no_grad;
  const auto& net = *impl_->net;
  at::Tensor moments = net.encoder->forward(image.to(impl_->options.dtype()));
  if (net.quant_conv) moments = net.quant_conv->forward(moments);
  const auto parts = moments.chunk(2, 1);
  Posterior p;
  p.mean = parts[0];
  p.logvar = at::clamp(parts[1], -30.0, 20.0);
  p.std = at::exp(0.5 * p.logvar);
  return p;
}

at::Tensor AutoencoderKL::decode(const at::Tensor& latent) const {
  const auto& net = *impl_->net;
  at::Tensor z = latent.to(impl_->options.dtype());
  if (net.post_quant_conv) z = net.post_quant_conv->forward(z);
  return net.decoder->forward(z);
}

at::Tensor AutoencoderKL::decode_tiled(const at::Tensor& latent, int64_t tile, int64_t overlap) const {
  const int64_t h = latent.size(2), w = latent.size(3);
  if (h <= tile && w <= tile) return decode(latent);
  if (overlap < 0 || overlap >= tile)
    throw ModelError("decode_tiled: overlap " + std::to_string(overlap) + " must be in [0, tile " + std::to_string(tile) + ")");
  const int64_t stride = tile - overlap, f = 8;  // latent → pixel factor of these VAEs
  at::Tensor out = at::zeros({latent.size(0), impl_->config.out_channels, h * f, w * f},
                             latent.options().dtype(at::kFloat));
  at::Tensor weight = at::zeros({1, 1, h * f, w * f}, out.options());
  // Each tile contributes with a weight ramping linearly over its overlapping borders (interior weight 1),
  // and the sum is normalised: seams blend smoothly whichever tiles meet there.
  for (int64_t y0 = 0; y0 < h; y0 += stride) {
    for (int64_t x0 = 0; x0 < w; x0 += stride) {
      const int64_t y = std::min(y0, std::max<int64_t>(0, h - tile)), x = std::min(x0, std::max<int64_t>(0, w - tile));
      const int64_t th = std::min(tile, h - y), tw = std::min(tile, w - x);
      const at::Tensor dec = decode(latent.narrow(2, y, th).narrow(3, x, tw)).to(at::kFloat);
      auto ramp = [&](int64_t n, bool lo, bool hi) {
        at::Tensor r = at::ones({n}, out.options());
        const int64_t m = overlap * f;
        if (m > 0) {
          const at::Tensor up = (at::arange(m, out.options()) + 1.0) / (m + 1.0);
          if (lo) r.narrow(0, 0, m).mul_(up);
          if (hi) r.narrow(0, n - m, m).mul_(up.flip(0));
        }
        return r;
      };
      const at::Tensor wy = ramp(th * f, y > 0, y + th < h), wx = ramp(tw * f, x > 0, x + tw < w);
      const at::Tensor wt = (wy.unsqueeze(1) * wx.unsqueeze(0)).unsqueeze(0).unsqueeze(0);
      out.narrow(2, y * f, th * f).narrow(3, x * f, tw * f).add_(dec * wt);
      weight.narrow(2, y * f, th * f).narrow(3, x * f, tw * f).add_(wt);
      if (x + tw >= w) break;
    }
    if (std::min(y0, std::max<int64_t>(0, h - tile)) + std::min(tile, h) >= h) break;
  }
  return (out / weight).to(impl_->options.dtype());
}

void AutoencoderKL::load(const std::vector<std::filesystem::path>& files) { load_module_weights(*impl_->net, files); }

void AutoencoderKL::randomize(uint64_t seed) { nn::randomize_parameters(*impl_->net, seed); }

int64_t AutoencoderKL::parameter_count() const { return nn::parameter_count(*impl_->net); }

}  // namespace osor::model
