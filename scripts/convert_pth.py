#!/usr/bin/env python3
"""Convert a published PyTorch .pth state dict to safetensors for OSOR's weights directory.

Needs PyTorch (any version >= 1.13; `pip install torch`). It runs once per file; OSOR itself never reads
pickles. The .pth is loaded with torch.load(weights_only=True), which refuses arbitrary pickled code.

    python3 scripts/convert_pth.py pt_inception-2015-12-05-6726825d.pth $OSOR_WEIGHTS/pt_inception-2015-12-05.safetensors
    python3 scripts/convert_pth.py alexnet-owt-7be5be79.pth $OSOR_WEIGHTS/alexnet.safetensors
    python3 scripts/convert_pth.py vgg16-397923af.pth       $OSOR_WEIGHTS/vgg16.safetensors
    python3 scripts/convert_pth.py lpips/weights/v0.1/alex.pth $OSOR_WEIGHTS/lpips_alex_v0.1.safetensors
    python3 scripts/convert_pth.py lpips/weights/v0.1/vgg.pth  $OSOR_WEIGHTS/lpips_vgg_v0.1.safetensors

Key names are kept as they are in the file (pytorch-fid / torchvision / lpips names, which OSOR's modules use);
`--strip-prefix module.` removes a DataParallel prefix. The output's SHA-256 is printed.
"""
import argparse
import hashlib
import json
import os
import struct
import sys


def dtype_names(torch):
    return {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL"}


def tensor_bytes(torch, t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian on every platform PyTorch ships for


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="the .pth file (a state dict, or a dict holding one under 'state_dict')")
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument("--strip-prefix", default="", help="remove this prefix from every key (e.g. 'module.')")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("convert_pth.py needs PyTorch: pip install torch")

    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        sys.exit("convert_pth.py needs PyTorch >= 1.13 (torch.load(weights_only=True))")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        sys.exit(f"{args.input}: not a state dict ({type(obj).__name__})")

    names = dtype_names(torch)
    header, blobs, offset = {}, [], 0
    for key, value in obj.items():
        if not torch.is_tensor(value):
            print(f"skipping non-tensor entry {key!r}", file=sys.stderr)
            continue
        if args.strip_prefix and key.startswith(args.strip_prefix):
            key = key[len(args.strip_prefix):]
        if value.dtype not in names:
            sys.exit(f"{args.input}: tensor {key!r} has dtype {value.dtype}, which safetensors cannot store")
        raw = tensor_bytes(torch, value)
        header[key] = {"dtype": names[value.dtype], "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt", "source": os.path.basename(args.input)}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)

    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, args.output)  # atomic
    digest = hashlib.sha256(open(args.output, "rb").read()).hexdigest()
    print(f"{args.output}: {len(header) - 1} tensors, sha256 {digest}")


if __name__ == "__main__":
    main()
