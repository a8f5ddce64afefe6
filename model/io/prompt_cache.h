// A fixed prompt's cached text-encoder outputs, read instead of running the text encoders: `prompt_embeds`
// (per-token, e.g. T5 [1, 512, 4096] for FLUX) and `pooled_prompt_embeds` (e.g. CLIP-L [1, 768]).
// Two file kinds hold them:
//   *.safetensors          the layout the weights folder documents (osor-flux/prompt_embeds.safetensors);
//   *.pt / *.pth / *.bin   OSOR's own cache (scripts/cache_prompts.py: torch.save of a plain dict that also holds
//                          `text_ids` and the prompt string), read natively by model/io/pytorch_checkpoint.h — no
//                          conversion step needed (`osor weights convert` writes the safetensors twin);
//   *.npz                  OmniPaint's shipped embeddings (embeddings/remove.npz: np.savez with `text_ids` too),
//                          read natively by model/io/npz_archive.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>

namespace osor::model {

struct PromptCache {
  at::Tensor prompt_embeds;         // [1, T, D] as stored (CPU, the file's dtype)
  at::Tensor pooled_prompt_embeds;  // [1, P]
};

// ModelError naming the file when it cannot be read or lacks either tensor.
PromptCache read_prompt_cache(const std::filesystem::path& path);

}  // namespace osor::model
