#include "model/osor/one_step.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include "model/cuda_graph.h"
#include "model/error.h"
#include "model/io/safetensors.h"
#include "model/schedulers/ddpm.h"
#include "model/sdxl_inpaint/multi_step.h"
#include "model/stage_timer.h"
#include "model/unet/unet_2d_condition.h"
#include "model/vae/autoencoder_kl.h"
#include "model/weights_manifest.h"

namespace osor::model {
namespace {

int64_t ceil16(int64_t v) { return (v + 15) / 16 * 16; }

}  // namespace

std::pair<int64_t, int64_t> processing_size(int64_t height, int64_t width, int64_t short_side) {
  if (height <= 0 || width <= 0) throw ModelError("processing_size: empty image");
  const int64_t s = std::min(height, width), l = std::max(height, width);
  if (s < short_side) return {ceil16(height), ceil16(width)};
  const int64_t long_side = static_cast<int64_t>(static_cast<double>(l) * short_side / s);
  return height <= width ? std::make_pair(ceil16(short_side), ceil16(long_side))
                         : std::make_pair(ceil16(long_side), ceil16(short_side));
}

OsorSdxlFiles OsorSdxlFiles::locate(const std::filesystem::path& weights_dir, const std::filesystem::path& checkpoint) {
  // The backbone's files are the SDXL-Inpainting baseline's (one layout, from model/weights_manifest).
  const SdxlInpaintFiles backbone = SdxlInpaintFiles::under(weights_dir);
  OsorSdxlFiles f;
  f.unet_config = backbone.unet_config;
  f.unet_weights = backbone.unet_weights;
  f.vae_config = backbone.vae_config;
  f.vae_weights = backbone.vae_weights;
  f.scheduler_config = backbone.scheduler_config;
  f.osor_checkpoint = checkpoint.empty() ? weights_dir / weights_file_info("osor-state-dict").relative_path : checkpoint;
  f.prompt_embeds = backbone.prompt_embeds;
  std::string missing;
  for (const auto* p : {&f.unet_config, &f.unet_weights, &f.vae_config, &f.vae_weights, &f.scheduler_config,
                        &f.osor_checkpoint, &f.prompt_embeds})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("osor-sdxl: missing weights file(s) " + missing +
                     "; get sdxl-inpainting/{unet,vae,scheduler}/ from huggingface.co/diffusers/"
                     "stable-diffusion-xl-1.0-inpainting-0.1 and osor-sdxl/ by converting the OSOR release "
                     "(huggingface.co/QinmingZhou/OSOR) with scripts/convert_osor_sdxl.py (see README, OSOR-SDXL model)");
  return f;
}

namespace {

// The three stages on device tensors, shared by the eager path and the CUDA-graph recordings (nothing in them
// synchronises with the host or copies from it).
struct Encoded {
  Posterior posterior;
  at::Tensor z_lq;
};
struct Denoised {
  at::Tensor z_t, z_in, out;  // z_in = [z_t | latent mask | z_lq], the UNet's input
};
struct Decoded {
  at::Tensor x0, alpha, z_out, decoded, image01;  // alpha and image01 float32
};

// Device-resident inputs and outputs of the recorded stages at one processing size.
struct GraphedStages {
  int64_t h = 0, w = 0;
  // Inputs: allocated once, rewritten in place (copy_) before each replay, since the recordings read their memory.
  at::Tensor lq, mask, posterior_noise, eps_noise, mask_latent, time_ids, t;
  Encoded encoded;
  Denoised denoised;
  Decoded decoded;
  std::unique_ptr<CapturedGraph> encode, unet, decode;
};

// What run() hands to either path: the checked sizes, the noise draws (on the CPU until copied to the device)
// and the time ids.
struct OneStepInputs {
  int64_t h = 0, w = 0;
  std::vector<int64_t> latent_shape;  // [1, latent_channels, h/8, w/8]
  at::Tensor posterior_noise, eps_noise;
  at::Tensor time_ids_cpu;  // [h, w, 0, 0, h, w]: original = target = processing size, no crop
};

// What either path leaves on the device for run()'s copies to the host.
struct OneStepOutputs {
  at::Tensor image01, alpha;
};

// m = max_pool2d(mask, 8, 8): the mask on the latent grid.
at::Tensor latent_mask(const at::Tensor& mask) { return at::max_pool2d(mask, {8, 8}, {8, 8}); }

}  // namespace

struct OsorSdxl::Impl {
  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  std::unique_ptr<DdpmSchedule> schedule;
  at::Tensor prompt_embeds, pooled;
  OneStepExecution execution;
  std::unique_ptr<GraphedStages> graphs;  // for the last processing size and timestep (cuda_graphs)
  int64_t graphs_timestep = -1;

  double scaling() const { return vae->config().scaling_factor; }

  at::Tensor timestep_tensor(int64_t timestep) const {
    return at::full({1}, timestep, at::TensorOptions().dtype(at::kLong).device(unet->options().device()));
  }

  Encoded encode(const at::Tensor& lq, const at::Tensor& posterior_noise) const {
    Encoded e;
    e.posterior = vae->encode(lq);
    e.z_lq = e.posterior.sample(posterior_noise) * scaling();
    return e;
  }

  Denoised denoise(const at::Tensor& z_lq, const at::Tensor& mask_latent, const at::Tensor& eps_noise,
                   const at::Tensor& t, const at::Tensor& time_ids, int64_t timestep) const {
    Denoised d;
    d.z_t = schedule->add_noise(z_lq, eps_noise, timestep);
    d.z_in = at::cat({d.z_t, mask_latent, z_lq}, 1);
    d.out = unet->forward(d.z_in, t, prompt_embeds, pooled, time_ids);
    return d;
  }

  Decoded decode(const Denoised& d, const at::Tensor& z_lq, const at::Tensor& mask_latent, int64_t timestep) const {
    Decoded r;
    r.x0 = schedule->predict_x0(d.out.narrow(1, 0, 4), timestep, d.z_t);
    // Phase II: the alpha head's sigmoid; Phase I: hard blending keeps the unmasked latent exactly.
    r.alpha = d.out.size(1) > 4 ? at::sigmoid(d.out.narrow(1, 4, 1).to(at::kFloat)) : mask_latent.to(at::kFloat);
    r.z_out = r.x0 * r.alpha + z_lq.to(at::kFloat) * (1.0 - r.alpha);
    r.decoded = vae->decode((r.z_out / scaling()).to(unet->options()));
    r.image01 = at::clamp((r.decoded.to(at::kFloat) + 1.0) / 2.0, 0.0, 1.0);
    return r;
  }

  // Checks the shapes; the given noise draws, else drawn from `seed` in the official order (posterior, then eps).
  OneStepInputs inputs(const at::Tensor& image, const at::Tensor& mask, const std::optional<OneStepNoise>& noise,
                       uint64_t seed) const {
    if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3 || mask.dim() != 4 || mask.size(0) != 1 ||
        mask.size(1) != 1 || mask.size(2) != image.size(2) || mask.size(3) != image.size(3) ||
        image.size(2) % 8 != 0 || image.size(3) % 8 != 0)
      throw ModelError("osor-sdxl: expected image [1,3,h,w] and mask [1,1,h,w] with h, w multiples of 8");
    OneStepInputs in;
    in.h = image.size(2);
    in.w = image.size(3);
    const auto& vae_config = vae->config();
    const int64_t factor = int64_t{1} << (vae_config.block_out_channels.size() - 1);  // 8 for SDXL's VAE
    in.latent_shape = {1, vae_config.latent_channels, in.h / factor, in.w / factor};
    if (noise) {
      in.posterior_noise = noise->posterior;
      in.eps_noise = noise->eps;
    } else {
      auto gen = at::detail::createCPUGenerator(seed);
      const auto cpu_f32 = at::TensorOptions().dtype(at::kFloat);
      in.posterior_noise = at::randn(in.latent_shape, gen, cpu_f32);
      in.eps_noise = at::randn(in.latent_shape, gen, cpu_f32);
    }
    if (!in.posterior_noise.sizes().equals(in.latent_shape) || !in.eps_noise.sizes().equals(in.latent_shape))
      throw ModelError("osor-sdxl: the noise tensors must have the latent shape [1,4,h/8,w/8]");
    const auto h = static_cast<float>(in.h), w = static_cast<float>(in.w);
    in.time_ids_cpu = at::tensor(std::vector<float>{h, w, 0.f, 0.f, h, w}).reshape({1, 6});
    return in;
  }

  // Eager: each stage called directly, every intermediate kept in `trace` under the fixture's names.
  OneStepOutputs run_eager(const OneStepInputs& in, const at::Tensor& image, const at::Tensor& mask,
                           int64_t timestep, StageTimer& timer, std::map<std::string, at::Tensor>& trace) const {
    const auto options = unet->options();
    timer.begin("vae_encode");
    const at::Tensor lq = image.to(options) * 2.0 - 1.0;
    const Encoded e = encode(lq, in.posterior_noise.to(vae->options()));
    timer.end();
    trace["vae_encode_input"] = lq;
    trace["posterior_mean"] = e.posterior.mean;
    trace["posterior_std"] = e.posterior.std;
    trace["z_lq"] = e.z_lq;

    timer.begin("unet");
    const at::Tensor mask_latent = latent_mask(mask.to(options));
    const at::Tensor time_ids = in.time_ids_cpu.to(options);
    const Denoised d =
        denoise(e.z_lq, mask_latent, in.eps_noise.to(e.z_lq.options()), timestep_tensor(timestep), time_ids, timestep);
    timer.end();
    trace["noise"] = in.eps_noise;
    trace["z_t"] = d.z_t;
    trace["z_in"] = d.z_in;
    trace["time_ids"] = time_ids;

    timer.begin("vae_decode");
    const Decoded x = decode(d, e.z_lq, mask_latent, timestep);
    timer.end();
    if (d.out.size(1) > 4) trace["mask_logits"] = d.out.narrow(1, 4, 1);
    trace["eps"] = d.out.narrow(1, 0, 4);
    trace["x0"] = x.x0;
    trace["z_out"] = x.z_out;
    trace["vae_decode_input"] = x.z_out / scaling();
    trace["vae_decode_output"] = x.decoded;
    return {x.image01, x.alpha};
  }

  // The recorded stages' input tensors for this size and timestep: kept from the last call when both match, else
  // allocated anew (returns true: record() must follow once they hold valid values).
  bool prepare_graphs(const OneStepInputs& in, int64_t timestep) {
    if (graphs && graphs->h == in.h && graphs->w == in.w && graphs_timestep == timestep) return false;
    graphs.reset();
    const auto options = unet->options();
    auto g = std::make_unique<GraphedStages>();
    g->h = in.h;
    g->w = in.w;
    g->lq = at::empty({1, 3, in.h, in.w}, options);
    g->mask = at::empty({1, 1, in.h, in.w}, options);
    g->posterior_noise = at::empty(in.latent_shape, options.dtype(vae->options().dtype()));
    g->eps_noise = at::empty(in.latent_shape, options);
    g->mask_latent = at::empty({1, 1, in.latent_shape[2], in.latent_shape[3]}, options);
    g->time_ids = in.time_ids_cpu.to(options);
    g->t = timestep_tensor(timestep);
    graphs = std::move(g);
    return true;
  }

  // Records the three stages for inputs of g's shapes (the inputs must hold valid values: warm-up runs them).
  void record(GraphedStages& g, int64_t timestep) const {
    const c10::Device device = unet->options().device();
    g.encode = std::make_unique<CapturedGraph>(device, [&] { g.encoded = encode(g.lq, g.posterior_noise); });
    g.unet = std::make_unique<CapturedGraph>(device, [&] {
      g.denoised = denoise(g.encoded.z_lq, g.mask_latent, g.eps_noise, g.t, g.time_ids, timestep);
    });
    g.decode = std::make_unique<CapturedGraph>(
        device, [&] { g.decoded = decode(g.denoised, g.encoded.z_lq, g.mask_latent, timestep); });
  }

  // CUDA graphs: the same stages, recorded once per size and timestep; the inputs are copied into the recorded
  // stages' tensors, then one replay per stage. No trace.
  OneStepOutputs run_graphed(const OneStepInputs& in, const at::Tensor& image, const at::Tensor& mask,
                             int64_t timestep, StageTimer& timer) {
    const bool fresh = prepare_graphs(in, timestep);
    GraphedStages& g = *graphs;
    timer.begin("vae_encode");
    g.lq.copy_(image.to(unet->options()) * 2.0 - 1.0);
    g.posterior_noise.copy_(in.posterior_noise);
    g.mask.copy_(mask);
    g.eps_noise.copy_(in.eps_noise);
    g.mask_latent.copy_(latent_mask(g.mask));  // in place: the recordings read this memory
    if (fresh) {
      record(g, timestep);
      graphs_timestep = timestep;
    }
    g.encode->replay();
    timer.end();
    timer.begin("unet");
    g.unet->replay();
    timer.end();
    timer.begin("vae_decode");
    g.decode->replay();
    timer.end();
    return {g.decoded.image01, g.decoded.alpha};
  }
};

OsorSdxl::OsorSdxl(std::unique_ptr<UNet2DConditionModel> unet, std::unique_ptr<AutoencoderKL> vae,
                   std::unique_ptr<DdpmSchedule> schedule, at::Tensor prompt_embeds, at::Tensor pooled_prompt_embeds)
    : impl_(std::make_unique<Impl>()) {
  impl_->unet = std::move(unet);
  impl_->vae = std::move(vae);
  impl_->schedule = std::move(schedule);
  impl_->prompt_embeds = std::move(prompt_embeds);
  impl_->pooled = std::move(pooled_prompt_embeds);
}

OsorSdxl::~OsorSdxl() = default;
OsorSdxl::OsorSdxl(OsorSdxl&&) noexcept = default;
OsorSdxl& OsorSdxl::operator=(OsorSdxl&&) noexcept = default;

UNet2DConditionModel& OsorSdxl::unet() { return *impl_->unet; }
AutoencoderKL& OsorSdxl::vae() { return *impl_->vae; }

OsorSdxl OsorSdxl::load(const OsorSdxlFiles& files, const at::Device& device, at::ScalarType dtype,
                        const LoraOptions& lora) {
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  // The LoRA merge happens in float32 on the loaded weights; build in float32 on the CPU when the target is a
  // narrower dtype would cost 2× memory, so the UNet is built directly in the target dtype and merged there.
  auto unet = std::make_unique<UNet2DConditionModel>(UNetConfig::from_file(files.unet_config), options);
  unet->load({files.unet_weights});
  apply_osor_checkpoint(*unet, SafetensorsFile::open(files.osor_checkpoint), lora);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(files.vae_config), options);
  vae->load({files.vae_weights});
  auto schedule = std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(files.scheduler_config));
  const auto prompts = SafetensorsFile::open(files.prompt_embeds);
  for (const char* key : {"prompt_embeds", "pooled_prompt_embeds"})
    if (!prompts.contains(key))
      throw ModelError("prompt cache " + files.prompt_embeds.string() + ": tensor " + key + " is missing");
  return OsorSdxl(std::move(unet), std::move(vae), std::move(schedule),
                  prompts.tensor("prompt_embeds").to(options), prompts.tensor("pooled_prompt_embeds").to(options));
}

OsorSdxl OsorSdxl::random(const std::filesystem::path& config_dir, const at::Device& device, at::ScalarType dtype,
                          uint64_t seed) {
  const auto base = config_dir / "sdxl-inpainting";
  const auto unet_config = base / "unet" / "config.json", vae_config = base / "vae" / "config.json";
  const auto scheduler_config = base / "scheduler" / "scheduler_config.json";
  std::string missing;
  for (const auto* p : {&unet_config, &vae_config, &scheduler_config})
    if (!std::filesystem::exists(*p)) missing += (missing.empty() ? "" : ", ") + p->string();
  if (!missing.empty())
    throw ModelError("osor-sdxl with random weights: missing config file(s) " + missing +
                     " (model/configs/full holds the SDXL-Inpainting configs)");
  const auto options = at::TensorOptions().device(device).dtype(dtype);
  const UNetConfig unet_cfg = UNetConfig::from_file(unet_config);
  auto unet = std::make_unique<UNet2DConditionModel>(unet_cfg, options);
  unet->randomize(seed);
  widen_conv_out(*unet, 5, seed + 1);
  auto vae = std::make_unique<AutoencoderKL>(VaeConfig::from_file(vae_config), options);
  vae->randomize(seed + 2);
  auto schedule = std::make_unique<DdpmSchedule>(DdpmScheduleConfig::from_file(scheduler_config));
  // The pooled embedding is what add_embedding takes besides the six time ids.
  const int64_t pooled_dim = unet_cfg.projection_class_embeddings_input_dim - 6 * unet_cfg.addition_time_embed_dim;
  if (pooled_dim <= 0) throw ModelError(unet_config.string() + ": projection_class_embeddings_input_dim leaves no pooled embedding");
  auto gen = at::detail::createCPUGenerator(seed + 3);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  at::Tensor prompt = at::randn({1, 77, unet_cfg.cross_attention_dim}, gen, cpu).to(options);
  at::Tensor pooled = at::randn({1, pooled_dim}, gen, cpu).to(options);
  return OsorSdxl(std::move(unet), std::move(vae), std::move(schedule), std::move(prompt), std::move(pooled));
}

void OsorSdxl::set_execution(const OneStepExecution& execution) {
  const c10::Device device = impl_->unet->options().device();
  if (execution.cuda_graphs && !device.is_cuda())
    throw ModelError("osor-sdxl: CUDA graphs need a CUDA device (the model is on " + device.str() + ")");
  if (execution.cuda_graphs && !cuda_graphs_available())
    throw ModelError("osor-sdxl: CUDA graphs: this build's LibTorch has no CUDA support");
  impl_->unet->set_memory_format(execution.unet_channels_last ? at::MemoryFormat::ChannelsLast
                                                              : at::MemoryFormat::Contiguous);
  impl_->execution = execution;
  impl_->graphs.reset();
}

const OneStepExecution& OsorSdxl::execution() const { return impl_->execution; }

bool OsorSdxl::has_alpha_head() const {
  return impl_->unet->conv_out_channels() > 4;
}

OneStepResult OsorSdxl::run(const at::Tensor& image, const at::Tensor& mask, const std::optional<OneStepNoise>& noise,
                            uint64_t seed, int64_t timestep) const {
  at::NoGradGuard no_grad;
  Impl& m = *impl_;
  const OneStepInputs in = m.inputs(image, mask, noise, seed);
  OneStepResult r;
  StageTimer timer(m.unet->options().device());
  const OneStepOutputs out = m.execution.cuda_graphs ? m.run_graphed(in, image, mask, timestep, timer)
                                                     : m.run_eager(in, image, mask, timestep, timer, r.trace);
  // The copies to the host lie outside the stages (the caller's postprocess waits for them).
  r.image = out.image01.cpu();
  const StageTimes times = timer.finish();
  r.stages_ms = times.ms;
  r.stage_calls = times.calls;
  r.alpha = out.alpha.cpu();
  r.alpha_image = at::upsample_bilinear2d(r.alpha, {in.h, in.w}, /*align_corners=*/false);
  if (!m.execution.cuda_graphs) {
    r.trace["x"] = r.image;
    r.trace["alpha"] = r.alpha;
    r.trace["alpha_vis"] = r.alpha_image;
  }
  return r;
}

}  // namespace osor::model
