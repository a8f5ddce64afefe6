#!/usr/bin/env python3
"""Encode a FLUX method's fixed prompt once, for OSOR's in-tree FLUX pipelines (which do not port the text encoders).

Run on a machine with the FLUX.1 text encoders (CLIP-L and T5-XXL, ~10 GB; transformers + diffusers + torch +
safetensors installed, access to the gated black-forest-labs/FLUX.1-dev repository or a local copy):

    python scripts/encode_flux_prompt.py --prompt "There is nothing here." \
        --out $OSOR_WEIGHTS/omnieraser/prompt_embeds.safetensors

It calls diffusers' FluxPipeline.encode_prompt(prompt, prompt_2=prompt, max_sequence_length=512) as the methods'
pipelines do (OmniEraser's FluxControlRemovalPipeline inherits it unchanged) and writes `prompt_embeds` [1, 512, 4096]
(T5-XXL) and `pooled_prompt_embeds` [1, 768] (CLIP-L pooled) in the chosen dtype (default bfloat16, the methods'
pipeline dtype), with the prompt in the file's metadata. Only the text encoders and tokenizers are loaded.

    python scripts/encode_flux_prompt.py --from-npz remove.npz --out omnipaint/prompt_embeds.safetensors

converts an .npz of embeddings (OmniPaint's embeddings/remove.npz) to the same layout without any model; OSOR reads
an uncompressed .npz natively, so this is needed only for a compressed one (np.savez_compressed).
"""
import argparse


def encode(args):
    import torch
    from diffusers import FluxPipeline

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    pipe = FluxPipeline.from_pretrained(args.model, transformer=None, vae=None, torch_dtype=dtype).to(args.device)
    with torch.no_grad():
        prompt_embeds, pooled, _text_ids = pipe.encode_prompt(
            prompt=args.prompt, prompt_2=args.prompt, device=args.device, max_sequence_length=args.max_sequence_length)
    return {"prompt_embeds": prompt_embeds, "pooled_prompt_embeds": pooled}, {"prompt": args.prompt, "model": args.model}


def from_npz(path):
    import numpy as np
    import torch

    data = np.load(path)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(data[k])) for k in ("prompt_embeds", "pooled_prompt_embeds")}
    return tensors, {"source": str(path)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the method's fixed prompt")
    src.add_argument("--from-npz", help="convert an .npz holding prompt_embeds and pooled_prompt_embeds")
    p.add_argument("--out", required=True, help="output .safetensors")
    p.add_argument("--model", default="black-forest-labs/FLUX.1-dev", help="repository or folder with the encoders")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--max-sequence-length", type=int, default=512)
    args = p.parse_args()

    from safetensors.torch import save_file

    tensors, metadata = from_npz(args.from_npz) if args.from_npz else encode(args)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, args.out, metadata=metadata)
    for k, v in tensors.items():
        print(f"{k}: {list(v.shape)} {v.dtype}")


if __name__ == "__main__":
    main()
