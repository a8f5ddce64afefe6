#!/usr/bin/env python3
"""Convert OSOR's SDXL release to the files `osor remove --method osor-sdxl` reads (run once; needs PyTorch and
the `safetensors` package, e.g. `pip install torch safetensors`).

  state_dict.pth   OSOR's generator checkpoint: a plain dict {name: tensor} saved with torch.save
                   (unet.<path>.lora_A/B.default.weight, unet.conv_out.weight/bias)
  prompt cache .pt OSOR's scripts/cache_prompts.py output: {"prompt_embeds", "pooled_prompt_embeds", "prompt"}

are written as <out>/state_dict.safetensors (same keys; `module.` / `_orig_mod.` prefixes stripped as OSOR's loader
does; "lora_alpha" in the metadata) and <out>/prompt_embeds.safetensors (`prompt_embeds`, `pooled_prompt_embeds`).
Pickles are read with torch.load(weights_only=True), which refuses anything but tensors and plain containers.

  python3 scripts/convert_osor_sdxl.py --state-dict state_dict.pth --prompt-embeds prompt_embeds.pt \\
      --lora-alpha 256 --out ~/.cache/osor/weights/osor-sdxl
"""
import argparse
import os

import torch
from safetensors.torch import save_file


def strip(name):
    for prefix in ("module.", "_orig_mod."):
        while name.startswith(prefix):
            name = name[len(prefix):]
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dict", required=True, help="OSOR state_dict.pth")
    ap.add_argument("--prompt-embeds", required=True, help="OSOR cached prompt embeddings (.pt)")
    ap.add_argument("--lora-alpha", type=float, default=None, help="lora_alpha of the run (OSOR SDXL: 256 = rank)")
    ap.add_argument("--out", required=True, help="output folder (the weights directory's osor-sdxl/)")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    state = torch.load(args.state_dict, map_location="cpu", weights_only=True)
    tensors = {strip(k): v.detach().contiguous() for k, v in state.items()}
    metadata = {"source": os.path.basename(args.state_dict)}
    if args.lora_alpha is not None:
        metadata["lora_alpha"] = repr(args.lora_alpha)
    save_file(tensors, os.path.join(args.out, "state_dict.safetensors"), metadata=metadata)

    cache = torch.load(args.prompt_embeds, map_location="cpu", weights_only=True)
    prompts = {k: cache[k].detach().contiguous() for k in ("prompt_embeds", "pooled_prompt_embeds")}
    save_file(prompts, os.path.join(args.out, "prompt_embeds.safetensors"),
              metadata={"prompt": str(cache.get("prompt", ""))})
    print(f"wrote {len(tensors)} tensors and the prompt cache to {args.out}")


if __name__ == "__main__":
    main()
