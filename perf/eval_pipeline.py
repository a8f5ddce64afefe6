"""`osor eval` against the loop a researcher writes in Python, side by side on a generated benchmark.

The main job of the harness is scoring methods x benchmarks. This script makes a benchmark of N photographs at
S x S (default 343 at 1024², the size of the large public benchmarks), then times, on the same machine and files:

  * Python: for each sample, Pillow decodes the input (the identity method's output) and the ground truth,
    scikit-image computes PSNR and the Gaussian SSIM (sigma 1.5, population covariance, data_range 255,
    channel_axis) -- the loop of a folder of Python scripts, one core;
  * OSOR: `osor eval --method identity --metrics psnr,ssim --masks object --jobs J` for each J given, the whole
    command (process start, writing the run folder, reports).

It prints (and with --json writes) the wall and CPU times, the ratios Python / OSOR for each J, the largest
difference of the per-sample values (they must agree to ~1e-12), and OSOR's own split of where the time went
(run_meta.json). The CPU-time ratio is the one to trust on a machine that is busy with something else.

    .venv/bin/pip install scikit-image pillow numpy
    .venv/bin/python perf/eval_pipeline.py --osor build/harness/osor --jobs 1,2 --json perf/eval_pipeline.json

The benchmark is made once under --dir (default /tmp/osor-eval-pipeline) and reused: upscaled (Lanczos) and
shifted copies of the bundled sample's pictures with a little seeded noise, so that the PNGs are about as large
as photographs' (noise-free upscales compress several times better and would flatter every decoder).
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "bench_data" / "sample"


def make_benchmark(folder: Path, count: int, size: int, seed: int) -> Path:
    """Writes folder/<name>.json and folder/<name>/{input,gt,mask}/ (skipped when already complete)."""
    name = f"generated-{count}-{size}"
    spec = folder / f"{name}.json"
    root = folder / name
    if spec.exists() and len(list((root / "mask").glob("*.png"))) == count:
        return spec
    ids = sorted(p.stem for p in (SAMPLE / "input").glob("*.png"))
    rng = np.random.default_rng(seed)
    for sub in ("input", "gt", "mask"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        source = ids[i % len(ids)]
        shift = (int(rng.integers(0, 64)), int(rng.integers(0, 64)))
        noise = rng.normal(0, 3, (size, size, 3))
        for sub, kind in (("input", "RGB"), ("gt", "RGB"), ("mask", "L")):
            image = Image.open(SAMPLE / sub / f"{source}.png").convert(kind)
            resample = Image.LANCZOS if kind == "RGB" else Image.NEAREST
            array = np.asarray(image.resize((size + 64, size + 64), resample))
            array = array[shift[0]:shift[0] + size, shift[1]:shift[1] + size]
            if kind == "RGB":
                array = np.clip(array + noise, 0, 255).astype(np.uint8)
            Image.fromarray(array).save(root / sub / f"s{i:04d}.png")
    spec.write_text(json.dumps({
        "name": name, "version": 1, "title": f"generated: {count} samples at {size}x{size} (perf/eval_pipeline.py)",
        "root": name, "root_relative_to": "spec", "input": "input/{id}.png", "gt": "gt/{id}.png",
        "object_mask": "mask/{id}.png", "mask_polarity": "white", "expected_count": count,
        "resolution": "native", "layout_status": "generated", "licence": "derived from the bundled sample",
        "source": "perf/eval_pipeline.py"}, indent=1) + "\n")
    return spec


def python_loop(root: Path):
    """The reference loop: Pillow decode, scikit-image PSNR and Gaussian SSIM; per-sample values and seconds."""
    values = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    for mask in sorted((root / "mask").glob("*.png")):
        pred = np.asarray(Image.open(root / "input" / mask.name).convert("RGB"))
        ref = np.asarray(Image.open(root / "gt" / mask.name).convert("RGB"))
        psnr = peak_signal_noise_ratio(ref, pred, data_range=255)
        ssim = structural_similarity(ref, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=-1)
        values[mask.stem] = {"psnr": psnr, "ssim": ssim}
    return values, time.perf_counter() - start, time.process_time() - cpu_start


def osor_eval(osor: str, spec: Path, jobs: int, out: Path):
    command = [osor, "eval", "--bench", str(spec), "--method", "identity", "--metrics", "psnr,ssim",
               "--masks", "object", "--jobs", str(jobs), "--bootstrap", "1", "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    values = {}
    for record in (out / "records").rglob("*.json"):
        if record.name.startswith("_") or record.name.endswith(".removal.json"):
            continue
        r = json.loads(record.read_text())
        values[r["id"]] = r["metrics"]
    meta = json.loads((out / "run_meta.json").read_text())
    return values, seconds, cpu, meta.get("timing", {})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osor", default=str(ROOT / "build" / "harness" / "osor"))
    parser.add_argument("--dir", default="/tmp/osor-eval-pipeline")
    parser.add_argument("--count", type=int, default=343)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values for osor eval")
    parser.add_argument("--skip-python", action="store_true", help="time only osor (e.g. while tuning)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    spec = make_benchmark(Path(args.dir), args.count, args.size, args.seed)
    result = {"count": args.count, "size": args.size, "cpu_cores": len(os.sched_getaffinity(0)), "osor": {}}
    ours = {}
    for jobs in (int(j) for j in args.jobs.split(",")):
        out = Path(tempfile.mkdtemp(prefix="osor-eval-pipeline-run-"))
        shutil.rmtree(out)
        values, seconds, cpu, timing = osor_eval(args.osor, spec, jobs, out)
        shutil.rmtree(out)
        ours[jobs] = values
        result["osor"][f"jobs_{jobs}"] = {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "timing": timing}
        print(f"osor eval --jobs {jobs}: {seconds:.1f} s ({cpu:.1f} CPU-s)", file=sys.stderr)
    if not args.skip_python:
        theirs, seconds, cpu = python_loop(spec.parent / spec.stem)
        result["python_loop_seconds"] = round(seconds, 2)
        result["python_loop_cpu_seconds"] = round(cpu, 2)
        print(f"python loop (Pillow + scikit-image): {seconds:.1f} s ({cpu:.1f} CPU-s)", file=sys.stderr)
        for jobs, values in ours.items():
            entry = result["osor"][f"jobs_{jobs}"]
            entry["ratio_python_over_osor"] = round(seconds / entry["seconds"], 2)
            entry["cpu_ratio_python_over_osor"] = round(cpu / entry["cpu_seconds"], 2)
            entry["max_abs_diff"] = max(abs(values[k][m] - theirs[k][m]) for k in theirs for m in ("psnr", "ssim"))
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
