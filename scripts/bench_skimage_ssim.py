#!/usr/bin/env python3
"""Times scikit-image's SSIM and PSNR on the inputs perf/bench_pixel_metrics.cpp uses (random
8-bit RGB, prediction = reference + uniform noise in [-20, 20]), single-threaded, for a side-by-side
comparison with `osor_perf --benchmark_filter='ssim|psnr'`. Needs Debian's python3-skimage."""
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


results = {}
rng = np.random.default_rng(0)
for size in (512, 1024):
    ref = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    pred = np.clip(ref.astype(np.int16) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    results[f"ssim_gaussian_{size}_s"] = best_of(lambda: structural_similarity(
        ref, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1), 3)
    results[f"ssim_uniform_{size}_s"] = best_of(lambda: structural_similarity(
        ref, pred, data_range=255, channel_axis=-1), 3)
    results[f"psnr_{size}_s"] = best_of(lambda: peak_signal_noise_ratio(ref, pred, data_range=255), 3)
print(json.dumps(results, indent=2))
