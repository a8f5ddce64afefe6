#include "model/weights_manifest.h"

#include <cstdlib>
#include <iterator>

#include "model/error.h"

namespace osor::model {

namespace {

// Download descriptions: a .pth converted to safetensors, or a file installed as published.
WeightsDownload pth(std::string url, std::string sha256) {
  return WeightsDownload{std::move(url), std::move(sha256), false, WeightsConversion::PthToSafetensors, ""};
}
WeightsDownload plain(std::string url) { return WeightsDownload{std::move(url), "", false, WeightsConversion::None, ""}; }

const std::string kSdxl = "https://huggingface.co/diffusers/stable-diffusion-xl-1.0-inpainting-0.1/resolve/main/";
const std::string kClip = "https://huggingface.co/openai/clip-vit-large-patch14-336/resolve/main/";
const std::string kDinov2 = "https://huggingface.co/facebook/dinov2-giant/resolve/main/";
const std::string kLpips = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/";

// `sha256` is of the installed file; for a converted .pth it stays empty until someone converts the published file
// with `osor weights convert` (deterministic output) and pins the printed hash. The published files' sha256
// (download.sha256) come from these sources, each matching the prefix the publisher put in the file name:
//   pt_inception-2015-12-05-6726825d.pth 6726825d...: torch-fidelity's and several evaluation repositories' pinned
//     hashes of the same release file (95,628,359 bytes);
//   alexnet-owt-7be5be79.pth 7be5be79... and vgg16-397923af.pth 397923af...: torchvision publishes only the
//     8-digit prefix (torch hub check_hash); the full hashes are those recorded by independent projects that pin
//     these files (found by code search);
//   sam_vit_h_4b8939.pth a7bf3b02... (2,564,550,879 bytes): as pinned by several independent projects that download
//     it (found by code search); the name's 4b8939 is not a sha256 prefix;
//   LPIPS v0.1 alex.pth df73285e... and vgg.pth a78928a0...: as pinned by projects that vendor the lpips package
//     (PerceptualSimilarity commit 082bb24f; 6,009 and 7,289 bytes).
// Hugging Face files (CLIP, DINOv2, SDXL-Inpainting) are unpinned: no source for their hashes was found.
std::vector<WeightsFileInfo> metric_network_files() {
  return {
      {"inception-fid", "pt_inception-2015-12-05.safetensors", "fid (pytorch-fid InceptionV3, pool3)",
       "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth, "
       "converted with `osor weights convert` (or fetched and converted by `osor weights fetch`)",
       "pytorch-fid / torchvision Inception3: Conv2d_1a_3x3.conv.weight, Conv2d_1a_3x3.bn.{weight,bias,running_mean,"
       "running_var}, ..., Mixed_7c.branch_pool.bn.running_var; fc.* ignored",
       "",
       pth("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
           "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2")},
      {"alexnet", "alexnet.safetensors", "lpips (alex trunk)",
       "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth (torchvision IMAGENET1K_V1), converted with "
       "`osor weights convert`",
       "torchvision alexnet: features.{0,3,6,8,10}.{weight,bias}; classifier.* ignored", "",
       pth("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
           "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02")},
      {"vgg16", "vgg16.safetensors", "lpips --net vgg (vgg16 trunk)",
       "https://download.pytorch.org/models/vgg16-397923af.pth (torchvision IMAGENET1K_V1), converted with "
       "`osor weights convert`",
       "torchvision vgg16: features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}; classifier.* ignored", "",
       pth("https://download.pytorch.org/models/vgg16-397923af.pth",
           "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0")},
      {"lpips-alex", "lpips_alex_v0.1.safetensors", "lpips (alex linear layers, v0.1)",
       kLpips + "alex.pth, converted with `osor weights convert`",
       "lpips: lin{0..4}.model.1.weight [1,C,1,1], C = 64,192,384,256,256", "",
       pth(kLpips + "alex.pth", "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0")},
      {"lpips-vgg", "lpips_vgg_v0.1.safetensors", "lpips --net vgg (vgg linear layers, v0.1)",
       kLpips + "vgg.pth, converted with `osor weights convert`",
       "lpips: lin{0..4}.model.1.weight [1,C,1,1], C = 64,128,256,512,512", "",
       pth(kLpips + "vgg.pth", "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868")},
      {"clip-config", "clip-vit-large-patch14-336/config.json", "cmmd (CLIP ViT-L/14@336 architecture)",
       kClip + "config.json",
       "HF CLIPConfig with nested vision_config and projection_dim (a CLIPVisionConfig alone is accepted)", "",
       plain(kClip + "config.json")},
      {"clip-weights", "clip-vit-large-patch14-336/model.safetensors", "cmmd (CLIP ViT-L/14@336 image embeddings)",
       kClip + "model.safetensors",
       "HF transformers CLIPModel: vision_model.*, visual_projection.weight used; text_model.*, text_projection.weight, "
       "logit_scale ignored",
       "", plain(kClip + "model.safetensors")},
      {"sam-vit-h", "sam_vit_h_4b8939.safetensors", "cfd (SAM ViT-H automatic mask generator)",
       "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth, converted with `osor weights convert` "
       "(or fetched and converted by `osor weights fetch`); the .pth itself also loads. An optional "
       "sam_vit_h_4b8939.json (the _build_sam arguments) replaces ViT-H's sizes",
       "segment-anything Sam.state_dict(): image_encoder.{patch_embed,pos_embed,blocks.<i>.{norm1,attn.{qkv,proj,"
       "rel_pos_h,rel_pos_w},norm2,mlp.lin1,mlp.lin2},neck.{0..3}}, prompt_encoder.*, mask_decoder.*", "",
       pth("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
           "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e")},
      {"dinov2-giant-config", "dinov2-giant/config.json", "cfd (DINOv2-giant architecture)", kDinov2 + "config.json",
       "HF Dinov2Config (hidden_size, num_hidden_layers, num_attention_heads, use_swiglu_ffn, ...)", "",
       plain(kDinov2 + "config.json")},
      {"dinov2-giant-preprocessor", "dinov2-giant/preprocessor_config.json", "cfd (DINOv2 BitImageProcessor settings)",
       kDinov2 + "preprocessor_config.json", "HF BitImageProcessor config (size.shortest_edge, crop_size, mean, std)",
       "", plain(kDinov2 + "preprocessor_config.json")},
      {"dinov2-giant", "dinov2-giant/model.safetensors", "cfd (DINOv2-giant features)", kDinov2 + "model.safetensors",
       "HF Dinov2Model: embeddings.*, encoder.layer.<i>.*, layernorm.*", "", plain(kDinov2 + "model.safetensors")},
  };
}

// The SDXL-Inpainting pipeline's files, shared by the sdxl-inpaint baseline and OSOR-SDXL.
std::vector<WeightsFileInfo> sdxl_inpainting_files() {
  return {
      {"sdxl-inpainting-unet", "sdxl-inpainting/unet/diffusion_pytorch_model.safetensors",
       "method sdxl-inpaint and osor (UNet)",
       "https://huggingface.co/diffusers/stable-diffusion-xl-1.0-inpainting-0.1 (unet/), fp32 or fp16 variant",
       "diffusers UNet2DConditionModel (9 input channels): conv_in.weight [320,9,3,3], down_blocks.*, mid_block.*, ...",
       "", plain(kSdxl + "unet/diffusion_pytorch_model.safetensors")},
      {"sdxl-inpainting-unet-config", "sdxl-inpainting/unet/config.json", "method sdxl-inpaint and osor (UNet config)",
       "https://huggingface.co/diffusers/stable-diffusion-xl-1.0-inpainting-0.1 (unet/config.json)",
       "diffusers UNet2DConditionModel config", "", plain(kSdxl + "unet/config.json")},
      {"sdxl-inpainting-vae", "sdxl-inpainting/vae/diffusion_pytorch_model.safetensors",
       "method sdxl-inpaint and osor (VAE)",
       "https://huggingface.co/diffusers/stable-diffusion-xl-1.0-inpainting-0.1 (vae/)",
       "diffusers AutoencoderKL: encoder.*, decoder.*, quant_conv.*, post_quant_conv.*", "",
       plain(kSdxl + "vae/diffusion_pytorch_model.safetensors")},
      {"sdxl-inpainting-vae-config", "sdxl-inpainting/vae/config.json", "method sdxl-inpaint and osor (VAE config)",
       "https://huggingface.co/diffusers/stable-diffusion-xl-1.0-inpainting-0.1 (vae/config.json)",
       "diffusers AutoencoderKL config (scaling_factor 0.13025)", "", plain(kSdxl + "vae/config.json")},
      {"sdxl-inpainting-scheduler", "sdxl-inpainting/scheduler/scheduler_config.json",
       "method sdxl-inpaint (scheduler)",
       "https://huggingface.co/diffusers/stable-diffusion-xl-1.0-inpainting-0.1 (scheduler/scheduler_config.json)",
       "diffusers EulerDiscreteScheduler config", "", plain(kSdxl + "scheduler/scheduler_config.json")},
  };
}

// The FLUX.1-Fill [dev] pipeline's files (diffusers layout), shared by the flux-fill baseline and OSOR-FLUX. The
// repository is gated on Hugging Face (licence acceptance and a token), so `osor weights fetch` cannot get them.
std::vector<WeightsFileInfo> flux_fill_files() {
  const std::string repo = "https://huggingface.co/black-forest-labs/FLUX.1-Fill-dev (gated: accept the licence, then "
                           "download with a token) ";
  return {
      {"flux-fill-transformer", "flux-fill/transformer/diffusion_pytorch_model.safetensors.index.json",
       "method flux-fill and osor-flux (transformer; its shards lie next to the index)",
       repo + "transformer/: the index and its diffusion_pytorch_model-0000N-of-0000M.safetensors shards",
       "diffusers FluxTransformer2DModel: x_embedder.weight [3072,384], transformer_blocks.*, "
       "single_transformer_blocks.*, norm_out.linear, proj_out (a single diffusion_pytorch_model.safetensors, or "
       "BFL's flux1-fill-dev.safetensors names, load too)",
       "", {}},
      {"flux-fill-transformer-config", "flux-fill/transformer/config.json",
       "method flux-fill and osor-flux (transformer config)", repo + "transformer/config.json",
       "diffusers FluxTransformer2DModel config (in_channels 384)", "", {}},
      {"flux-fill-vae", "flux-fill/vae/diffusion_pytorch_model.safetensors", "method flux-fill and osor-flux (VAE)",
       repo + "vae/", "diffusers AutoencoderKL, 16 latent channels, no quant convs: encoder.*, decoder.*", "", {}},
      {"flux-fill-vae-config", "flux-fill/vae/config.json", "method flux-fill and osor-flux (VAE config)",
       repo + "vae/config.json", "diffusers AutoencoderKL config (scaling_factor 0.3611, shift_factor 0.1159)", "", {}},
      {"flux-fill-scheduler", "flux-fill/scheduler/scheduler_config.json", "method flux-fill (scheduler)",
       repo + "scheduler/scheduler_config.json",
       "diffusers FlowMatchEulerDiscreteScheduler config (use_dynamic_shifting true)", "", {}},
  };
}

// FLUX.1 [dev] (diffusers layout), the backbone of the omnipaint and omnieraser baselines; gated like Fill.
std::vector<WeightsFileInfo> flux_dev_files() {
  const std::string repo = "https://huggingface.co/black-forest-labs/FLUX.1-dev (gated: accept the licence, then "
                           "download with a token) ";
  const std::string who = "method omnipaint and omnieraser";
  return {
      {"flux-dev-transformer", "flux-dev/transformer/diffusion_pytorch_model.safetensors.index.json",
       who + " (transformer; its shards lie next to the index)",
       repo + "transformer/: the index and its diffusion_pytorch_model-0000N-of-0000M.safetensors shards",
       "diffusers FluxTransformer2DModel: x_embedder.weight [3072,64], ... (a single "
       "diffusion_pytorch_model.safetensors, or BFL's flux1-dev.safetensors names, load too)",
       "", {}},
      {"flux-dev-transformer-config", "flux-dev/transformer/config.json", who + " (transformer config)",
       repo + "transformer/config.json", "diffusers FluxTransformer2DModel config (in_channels 64)", "", {}},
      {"flux-dev-vae", "flux-dev/vae/diffusion_pytorch_model.safetensors", who + " (VAE)", repo + "vae/",
       "diffusers AutoencoderKL, 16 latent channels (the same VAE as FLUX.1-Fill's)", "", {}},
      {"flux-dev-vae-config", "flux-dev/vae/config.json", who + " (VAE config)", repo + "vae/config.json",
       "diffusers AutoencoderKL config (scaling_factor 0.3611, shift_factor 0.1159)", "", {}},
      {"flux-dev-scheduler", "flux-dev/scheduler/scheduler_config.json", who + " (scheduler)",
       repo + "scheduler/scheduler_config.json",
       "diffusers FlowMatchEulerDiscreteScheduler config (use_dynamic_shifting true)", "", {}},
  };
}

// The FLUX.1 [dev] baselines' own files.
std::vector<WeightsFileInfo> flux_baseline_files() {
  return {
      {"omnipaint-lora", "omnipaint/omnipaint_remove.safetensors", "method omnipaint (removal LoRA)",
       "https://huggingface.co/yeates/OmniPaint weights/omnipaint_remove.safetensors",
       "diffusers/PEFT LoRA: transformer.<module>.lora_{A,B}.weight (kohya names load too)", "",
       plain("https://huggingface.co/yeates/OmniPaint/resolve/main/weights/omnipaint_remove.safetensors")},
      {"omnipaint-prompt-embeds", "omnipaint/remove.npz", "method omnipaint (shipped prompt embeddings)",
       "https://huggingface.co/yeates/OmniPaint embeddings/remove.npz (read natively)",
       "numpy .npz: prompt_embeds [1,512,4096], pooled_prompt_embeds [1,768], text_ids", "",
       plain("https://huggingface.co/yeates/OmniPaint/resolve/main/embeddings/remove.npz")},
      {"omnieraser-lora", "omnieraser/pytorch_lora_weights.safetensors", "method omnieraser (LoRA, widened x_embedder)",
       "https://huggingface.co/theSure/Omnieraser pytorch_lora_weights.safetensors",
       "diffusers/PEFT LoRA: transformer.<module>.lora_{A,B}.weight, x_embedder.lora_A [r,256]", "",
       plain("https://huggingface.co/theSure/Omnieraser/resolve/main/pytorch_lora_weights.safetensors")},
      {"omnieraser-prompt-embeds", "omnieraser/prompt_embeds.safetensors",
       "method omnieraser (fixed prompt \"There is nothing here.\")",
       "encoded once with scripts/encode_flux_prompt.py --prompt \"There is nothing here.\" (needs the FLUX.1 [dev] "
       "text encoders; no public download)",
       "prompt_embeds [1,512,4096] (T5-XXL), pooled_prompt_embeds [1,768] (CLIP-L)", "", {}},
  };
}

// OSOR's own files (no public download known).
std::vector<WeightsFileInfo> osor_files() {
  return {
      {"osor-state-dict", "osor-sdxl/state_dict.safetensors", "method osor (one-step removal weights)",
       "the OSOR release (Zhouqm-Git/osor; no public download URL known), converted with `osor weights convert` if "
       "published as .pth",
       "diffusers UNet names (LoRA-merged or LoRA keys) plus the alpha head", "", {}},
      {"osor-prompt-embeds", "osor-sdxl/prompt_embeds.safetensors", "method osor (fixed prompt embeddings)",
       "computed once from the SDXL text encoders for the OSOR prompt (the OSOR release; no public download URL known)",
       "prompt_embeds [1,77,2048], pooled_prompt_embeds [1,1280]", "", {}},
      {"osor-flux-state-dict", "osor-flux/state_dict.safetensors", "method osor-flux (one-step removal weights)",
       "the OSOR-FLUX release's state_dict.pth (Zhouqm-Git/osor; no public download URL known), converted with "
       "`osor weights convert`",
       "OSOR's keys: transformer.base_model.model.<path>.lora_{A,B}.default.weight (PEFT, rank 64) and "
       "transformer.base_model.model.proj_out.{weight [68,3072], bias [68]}",
       "", {}},
      {"osor-flux-prompt-embeds", "osor-flux/prompt_embeds.safetensors",
       "method osor-flux and flux-fill (fixed prompt embeddings)",
       "OSOR's cached prompt (scripts/cache_prompts.py, a .pt) converted with `osor weights convert`, or the .pt "
       "itself given as prompt=FILE",
       "prompt_embeds [1,512,4096] (T5-XXL), pooled_prompt_embeds [1,768] (CLIP-L)", "", {}},
  };
}

}  // namespace

const std::vector<WeightsFileInfo>& weights_manifest() {
  static const std::vector<WeightsFileInfo> table = [] {
    std::vector<WeightsFileInfo> all;
    for (auto part : {metric_network_files(), sdxl_inpainting_files(), flux_fill_files(), osor_files(),
                      flux_dev_files(), flux_baseline_files()})
      all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    return all;
  }();
  return table;
}

const WeightsFileInfo& weights_file_info(const std::string& id) {
  for (const auto& w : weights_manifest())
    if (w.id == id) return w;
  std::string known;
  for (const auto& w : weights_manifest()) known += (known.empty() ? "" : ", ") + w.id;
  throw ModelError("unknown weights file id '" + id + "' (known: " + known + ")");
}

std::filesystem::path resolve_weights_dir(const std::string& cli_value) {
  if (!cli_value.empty()) return cli_value;
  if (const char* env = std::getenv("OSOR_WEIGHTS"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".cache" / "osor" / "weights";
}

std::string missing_weights_message(const std::filesystem::path& weights_dir, const std::string& id) {
  const WeightsFileInfo& w = weights_file_info(id);
  return "missing weights file " + (weights_dir / w.relative_path).string() + " needed by " + w.needed_by +
         "; get it from " + w.source + " (set the folder with --weights DIR or $OSOR_WEIGHTS)";
}

std::filesystem::path require_weights_file(const std::filesystem::path& weights_dir, const std::string& id) {
  const std::filesystem::path p = weights_dir / weights_file_info(id).relative_path;
  if (!std::filesystem::is_regular_file(p)) throw ModelError(missing_weights_message(weights_dir, id));
  return p;
}

}  // namespace osor::model
