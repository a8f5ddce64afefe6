#!/usr/bin/env python3
"""Generates bench_data/sample/: the bundled object-removal benchmark (input, ground truth, object mask,
effect mask) from the CC0 / public-domain photos that Debian's python3-skimage ships.

Reproducible from --seed (default 20261128): the same seed and skimage 0.19.3 give byte-identical PNGs.
Each sample: a background crop B (ground truth), an object O with alpha A (a silhouette or a procedural
shape textured from another photo), a contact shadow S (A flipped below its base, squashed, sheared,
blurred; darkens B by a factor 1 − k·S in linear light, k the shadow strength) and, for every third sample,
a reflection R (A flipped below its base, faded). Then
    input = composite(B shadowed and reflected, O over A)
    object mask = A > 0.5
    effect mask = object ∪ (k·S ≥ 0.1) ∪ (R ≥ 0.1)          (the effects where they are visible)
Usage: /usr/bin/python3 scripts/make_sample_benchmark.py [--out bench_data/sample] [--seed N] [--count 24]
Needs: python3-skimage (>= 0.19), python3-numpy, python3-scipy (Debian packages).
"""
import argparse
import json
import os

import numpy as np
from scipy import ndimage
from skimage import data, io, transform

SIZE = (256, 256)

# (function, licence) — licences from skimage/data/_fetchers.py docstrings.
BACKGROUNDS = {
    "astronaut": "NASA, public domain",
    "coffee": "CC0 (Rachel Michetti)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "rocket": "SpaceX, public domain",
    "brick": "CC0",
    "grass": "CC0",
    "gravel": "CC0",
    "hubble_deep_field": "NASA, public domain",
    "immunohistochemistry": "CC0",
    "retina": "CC0",
}
OBJECT_TEXTURES = ["coffee", "chelsea", "astronaut", "rocket", "immunohistochemistry", "retina"]
SHAPES = ["horse", "logo", "ellipse", "star", "blob", "coins"]


def as_rgb(img):
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return img[..., :3].astype(np.float64) / 255.0


def random_crop(img, rng, size):
    h, w = img.shape[:2]
    scale = max(size[0] / h, size[1] / w) * rng.uniform(1.0, 1.6)
    img = transform.resize(img, (int(np.ceil(h * scale)), int(np.ceil(w * scale))), order=1, anti_aliasing=True)
    h, w = img.shape[:2]
    top = rng.integers(0, h - size[0] + 1)
    left = rng.integers(0, w - size[1] + 1)
    return img[top:top + size[0], left:left + size[1]]


def shape_alpha(kind, rng):
    """A soft alpha in [0,1] of about 40-55% of the frame, in a 128x128 box."""
    n = 128
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1) * 2 - 1
    if kind == "horse":
        a = np.asarray(data.horse(), dtype=np.float64)
        a = 1.0 - a if a.mean() > 0.5 else a  # skimage's horse is black on white
        a = transform.resize(a, (n, n), order=1, anti_aliasing=True)
    elif kind == "logo":
        a = transform.resize(data.logo()[..., 3] / 255.0, (n, n), order=1, anti_aliasing=True)
    elif kind == "coins":
        c = data.coins()[180:300, 260:380] / 255.0  # a cluster of coins, thresholded
        # A pile: the coins closed into one connected cut-out (gaps between touching coins filled).
        pile = ndimage.binary_closing(ndimage.gaussian_filter(c, 1.5) > 0.45, structure=np.ones((9, 9)), iterations=2)
        lab, count = ndimage.label(pile)
        if count:
            pile = lab == 1 + int(np.argmax(ndimage.sum(pile, lab, range(1, count + 1))))
        a = transform.resize(pile.astype(float), (n, n), order=1)
    elif kind == "ellipse":
        rx, ry, th = rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7), rng.uniform(0, np.pi)
        u = xx * np.cos(th) + yy * np.sin(th)
        v = -xx * np.sin(th) + yy * np.cos(th)
        a = ((u / rx) ** 2 + (v / ry) ** 2 < 1).astype(float)
    elif kind == "star":
        r = np.hypot(xx, yy)
        ang = np.arctan2(yy, xx)
        a = (r < 0.55 + 0.3 * np.cos(5 * ang + rng.uniform(0, 6.3))).astype(float)
    else:  # blob: thresholded smooth noise
        noise = ndimage.gaussian_filter(rng.standard_normal((n, n)), 12)
        a = (noise - 0.5 * np.hypot(xx, yy) * noise.std() * 3 > 0).astype(float)
        lab, count = ndimage.label(a)
        if count:
            sizes = ndimage.sum(a, lab, range(1, count + 1))
            a = (lab == 1 + int(np.argmax(sizes))).astype(float)
    return np.clip(ndimage.gaussian_filter(a, 0.7), 0, 1)


def place(alpha_small, rng, size, scale):
    """Puts the object alpha into a full-size canvas: returns alpha and the object's base row."""
    h = int(size[0] * scale)
    small = transform.resize(alpha_small, (h, h), order=1, anti_aliasing=True)
    canvas = np.zeros(size)
    top = rng.integers(size[0] // 10, size[0] - h - size[0] // 8)
    left = rng.integers(size[1] // 12, size[1] - h - size[1] // 12)
    canvas[top:top + h, left:left + h] = small
    return canvas


def srgb_to_linear(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.clip(x, 0, None), 1 / 2.4) - 0.055)


def cast_shadow(alpha, rng):
    """A contact shadow on the ground plane: the silhouette flipped below its base row (attached at the feet),
    squashed to 20-35 % of its height, leaning sideways, softened a little."""
    squash, shear = rng.uniform(0.2, 0.35), rng.uniform(-0.35, 0.35)
    dx = rng.uniform(-0.03, 0.03) * alpha.shape[1]
    rows = alpha.any(axis=1).nonzero()[0]
    base = rows.max() if rows.size else alpha.shape[0] // 2
    # Output (r, c) below the base reads the silhouette at row base - (r - base)/squash, column c - shear·(r - base)/squash.
    matrix = np.array([[-1 / squash, 0], [-shear / squash, 1]])
    offset = np.array([base + base / squash, shear * base / squash - dx])
    s = ndimage.affine_transform(alpha, matrix, offset=offset, order=1, mode="constant")
    s[:base] = 0
    return np.clip(ndimage.gaussian_filter(s, rng.uniform(1.0, 2.0)) * 1.2, 0, 1)


def reflection(alpha, rng):
    rows = alpha.any(axis=1).nonzero()[0]
    if not rows.size:
        return np.zeros_like(alpha)
    top, base = rows.min(), rows.max()
    h = base - top + 1
    refl = np.zeros_like(alpha)
    span = min(int(0.4 * h), alpha.shape[0] - base - 1)  # the lower part of the object, mirrored and fading out
    if span <= 2:
        return refl
    refl[base + 1:base + 1 + span] = alpha[base - span + 1:base + 1][::-1]
    fade = np.linspace(0.6, 0.0, span)[:, None]
    refl[base + 1:base + 1 + span] *= fade
    return ndimage.gaussian_filter(refl, 1.0)


def make_sample(index, rng):
    names = list(BACKGROUNDS)
    bg_name = names[index % len(names)]
    bg = random_crop(as_rgb(getattr(data, bg_name)()), rng, SIZE)
    shape = SHAPES[index % len(SHAPES)]
    tex_name = OBJECT_TEXTURES[(index * 7 + 3) % len(OBJECT_TEXTURES)]
    texture = random_crop(as_rgb(getattr(data, tex_name)()), rng, SIZE)
    tint = rng.uniform(0.6, 1.2, size=3)
    obj = np.clip(texture * tint, 0, 1)
    alpha = place(shape_alpha(shape, rng), rng, SIZE, rng.uniform(0.3, 0.5))
    shadow = cast_shadow(alpha, rng) * (1 - alpha)
    strength = rng.uniform(0.6, 0.8)
    lin = srgb_to_linear(bg) * (1 - strength * shadow[..., None])
    with_reflection = index % 3 == 2
    refl = reflection(alpha, rng) * (1 - alpha) if with_reflection else np.zeros(SIZE)
    lin = lin * (1 - refl[..., None]) + srgb_to_linear(obj)[::-1] * refl[..., None] * 0.9
    scene = linear_to_srgb(lin)
    composite = scene * (1 - alpha[..., None]) + obj * alpha[..., None]
    to_u8 = lambda x: np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    object_mask = alpha > 0.5
    # Effects where they are visible: at least 10 % less light under the shadow, 10 % reflection opacity.
    effect_mask = object_mask | (strength * shadow >= 0.1) | (refl >= 0.1)
    meta = {"id": f"s{index:02d}", "background": bg_name, "object_shape": shape, "object_texture": tex_name,
            "shadow_strength": round(float(strength), 4), "reflection": with_reflection,
            "object_pixels": int(object_mask.sum()), "effect_pixels": int(effect_mask.sum())}
    return to_u8(composite), to_u8(bg), object_mask, effect_mask, meta


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "bench_data", "sample"))
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--count", type=int, default=24)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for sub in ("input", "gt", "mask", "mask_effect"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    samples = []
    for i in range(args.count):
        composite, bg, obj_mask, eff_mask, meta = make_sample(i, rng)
        name = meta["id"] + ".png"
        io.imsave(os.path.join(args.out, "input", name), composite, check_contrast=False)
        io.imsave(os.path.join(args.out, "gt", name), bg, check_contrast=False)
        io.imsave(os.path.join(args.out, "mask", name), (obj_mask * 255).astype(np.uint8), check_contrast=False)
        io.imsave(os.path.join(args.out, "mask_effect", name), (eff_mask * 255).astype(np.uint8), check_contrast=False)
        samples.append(meta)
    with open(os.path.join(args.out, "samples.json"), "w") as f:
        json.dump({"generator": "scripts/make_sample_benchmark.py", "seed": args.seed, "size": list(SIZE),
                   "licences": BACKGROUNDS, "samples": samples}, f, indent=1)
    print(f"wrote {len(samples)} samples to {args.out}")


if __name__ == "__main__":
    main()
