"""OSOR vs the Python reference implementations, side by side in one run on the same machine and inputs.

Every row is a ratio (theirs / ours time = the speed-up of OSOR; > 1 means OSOR is faster) plus, where the two
compute the same values, the max |difference| of those values. The ms columns are per image (per call for the
SDXL stages) and are only there to make the ratio checkable.

Exact command (from the repository root; default settings, about 2-4 minutes on one thread):

    OMP_NUM_THREADS=1 .venv/bin/python perf/python_peers.py --threads 1 --json perf/python_peers.json

Peers (install: .venv/bin/pip install scikit-image torchmetrics pytorch-fid clean-fid lpips diffusers
transformers pillow numpy; then re-pin torch/torchvision to the LibTorch the build uses, pip upgrades them):
  * PSNR, Gaussian SSIM: scikit-image and torchmetrics vs `osor score --metric psnr|ssim --json`.
  * FID: pytorch-fid (full pipeline: InceptionV3 features from the image folder and the FID value),
    clean-fid and torchmetrics (Frechet distance only, see below) vs `osor features` / `osor score --metric fid`.
  * LPIPS (alex): the `lpips` package vs `osor score --metric lpips`.
  * SDXL VAE encode / UNet / VAE decode: diffusers built from model/configs/tiny vs `osor latency --method osor-sdxl`.
Weights: there is no download. Both sides get the conformance fixtures' random weights: the FID Inception
(conv weights from the formula of ../shared/conformance/README.md 2b, batch norms from fid/inception_fid_bn.safetensors,
handed to pytorch-fid in place of its download) and LPIPS-Alex (lpips/lpips_alex_v0.1_weights.safetensors);
the SDXL networks are random on both sides with different draws (times only, no value comparison).
clean-fid's and torchmetrics' feature extractors (a TorchScript / torch-fidelity download) cannot be given those
weights, so for them only the Frechet distance on the same random float64 features is compared.

Timing: OSOR = wall time of the whole `osor` command (process start, LibTorch load and image decoding included);
Python = the loop over the folder including Pillow decoding (imports, model construction excluded; one warm-up
call first). Threads: torch.set_num_threads(N) and OMP/MKL/OPENBLAS_NUM_THREADS=N on both sides.
"""
import argparse
import os
import sys


def _early_threads():
    n = "1"
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            n = sys.argv[i + 1]
        elif a.startswith("--threads="):
            n = a.split("=", 1)[1]
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = n


_early_threads()

import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROWS = []
NOTES = []


# ---------------------------------------------------------------------------------------------- helpers

def run_osor(args, cmd):
    t0 = time.perf_counter()
    p = subprocess.run([args.osor] + cmd, capture_output=True, text=True, env=os.environ.copy())
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("osor " + " ".join(cmd) + " failed (rc %d): %s" % (p.returncode, p.stderr[-2000:]))
    return dt, p.stdout


def row(what, ours_ms, theirs_ms, diff=None, note=""):
    r = {"what": what, "ours_ms": ours_ms, "theirs_ms": theirs_ms,
         "ratio_theirs_over_ours": (theirs_ms / ours_ms) if ours_ms and theirs_ms else None,
         "max_abs_diff": diff, "note": note}
    ROWS.append(r)
    print("  %-55s ratio %s  diff %s" % (what, fmt(r["ratio_theirs_over_ours"], 2), fmt(diff, 3, sci=True)),
          file=sys.stderr, flush=True)


def fmt(v, nd=2, sci=False):
    if v is None:
        return "n/a"
    if sci:
        return "%.2e" % v
    return "%.*f" % (nd, v)


def load_rgb(path):
    with Image.open(path) as im:
        return np.array(im.convert("RGB"))


def pairs(pred_dir, ref_dir):
    names = sorted(p.stem for p in Path(pred_dir).glob("*.png"))
    return [(n, Path(pred_dir) / (n + ".png"), Path(ref_dir) / (n + ".png")) for n in names]


def max_diff(ours: dict, theirs: dict):
    return max(abs(float(ours[k]) - float(theirs[k])) for k in theirs)


def write_safetensors(path, tensors: dict, meta=None):
    """safetensors writer (stdlib + numpy): u64 header length, JSON header, raw little-endian data."""
    codes = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dt = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1"}
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"]).copy()
    return out, meta


# ---------------------------------------------------------------------------------------------- weights

def formula_conv_weight(key, shape):
    """README 2b: FNV-1a 64 of the key, splitmix64(h + i), top 24 bits -> u in [-1, 1), times f32(sqrt(3/fan_in))."""
    h = 0xCBF29CE484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        z = np.uint64(h) + np.arange(n, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = z ^ (z >> np.uint64(31))
    m = (x >> np.uint64(40)).astype(np.int64)
    u = (m - 8388608).astype(np.float64) / 8388608.0
    fan_in = shape[1] * shape[2] * shape[3]
    s = np.float64(np.float32(np.sqrt(3.0 / fan_in)))
    return (s * u).astype(np.float32).reshape(shape)


def inception_state(conf):
    import hashlib
    keys = json.load(open(conf / "fid" / "inception_state_dict_keys.json"))
    bn, _ = read_safetensors(conf / "fid" / "inception_fid_bn.safetensors")
    state, bad = {}, 0
    for t in keys["tensors"]:
        if t["source"] == "formula":
            w = formula_conv_weight(t["name"], t["shape"])
            if hashlib.sha256(w.astype("<f4").tobytes()).hexdigest() != t["sha256_f32le"]:
                bad += 1
            state[t["name"]] = w
        elif t["source"] == "bn_file":
            state[t["name"]] = bn[t["name"]]
    if bad:
        raise RuntimeError("%d formula conv weights do not match the keys file's sha256" % bad)
    return state


def make_weights_dir(conf, wdir):
    wdir.mkdir(parents=True, exist_ok=True)
    st = inception_state(conf)
    write_safetensors(wdir / "pt_inception-2015-12-05.safetensors", st)
    lp, _ = read_safetensors(conf / "lpips" / "lpips_alex_v0.1_weights.safetensors")
    write_safetensors(wdir / "alexnet.safetensors", {k: v for k, v in lp.items() if not k.startswith("lin")})
    write_safetensors(wdir / "lpips_alex_v0.1.safetensors", {k: v for k, v in lp.items() if k.startswith("lin")})
    return st, lp


def patch_pytorch_fid(state):
    """pytorch-fid downloads its weights in fid_inception_v3(); hand it the fixture state dict instead.
    fc.* and num_batches_tracked (unused by pool3) are taken from the freshly built module."""
    import pytorch_fid.inception as pi

    def fake_load(url, progress=True, **kw):
        import torchvision
        ref = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
        full = {k: v.clone() for k, v in ref.state_dict().items()}
        full.update({k: torch.from_numpy(v) for k, v in state.items()})
        return full

    pi.load_state_dict_from_url = fake_load


# ---------------------------------------------------------------------------------------------- sections

def bench_psnr_ssim(args, pred, ref):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim
    ps = pairs(pred, ref)
    n = len(ps)

    def sk_psnr(a, b):
        return peak_signal_noise_ratio(b, a, data_range=255)

    def sk_ssim(a, b):
        return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=-1)

    def t(a):
        return torch.from_numpy(a).permute(2, 0, 1)[None].to(torch.float64)

    def tmp(a, b):
        return float(tm_psnr(t(a), t(b), data_range=255.0))

    def tms(a, b):
        return float(tm_ssim(t(a), t(b), gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0))

    for metric, peers in (("psnr", (("scikit-image", sk_psnr), ("torchmetrics", tmp))),
                          ("ssim", (("scikit-image", sk_ssim), ("torchmetrics", tms)))):
        dt, out = run_osor(args, ["score", "--metric", metric, "--pred", str(pred), "--ref", str(ref), "--json"])
        ours = json.loads(out)["per_image"]
        for name, fn in peers:
            fn(load_rgb(ps[0][1]), load_rgb(ps[0][2]))  # warm-up
            vals = {}
            t0 = time.perf_counter()
            for stem, a, b in ps:
                vals[stem] = fn(load_rgb(a), load_rgb(b))
            tt = time.perf_counter() - t0
            row("%s (%d img %s) vs %s" % (metric.upper(), n, args.size_label, name), dt * 1e3 / n, tt * 1e3 / n,
                max_diff(ours, vals), "per image; value diff in dB" if metric == "psnr" else "per image")


def bench_lpips(args, pred, ref, lp_state, wdir):
    import lpips
    ps = pairs(pred, ref)
    n = len(ps)
    net = lpips.LPIPS(pretrained=False, net="alex", pnet_rand=True, verbose=False)
    # torchvision AlexNet `features.<i>` -> lpips' alexnet slices (slice1 = [0,2), 2 = [2,5), 3 = [5,8), 4, 5).
    where = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    sd = {}
    for k, v in lp_state.items():
        if k.startswith("features."):
            i = int(k.split(".")[1])
            sd["net.slice%d.%s" % (where[i], k[len("features."):])] = torch.from_numpy(v)
        else:
            sd[k] = torch.from_numpy(v)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [m for m in missing if "scaling_layer" not in m and not m.startswith("lins.")]  # lins aliases lin0..4
    if missing or unexpected:
        raise RuntimeError("lpips state dict mismatch: missing %s unexpected %s" % (missing, unexpected))
    net.eval()

    def t(a):
        return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1.0

    dt, out = run_osor(args, ["score", "--metric", "lpips", "--lpips-net", "alex", "--weights", str(wdir),
                              "--pred", str(pred), "--ref", str(ref), "--json"])
    ours = json.loads(out)["per_image"]
    with torch.no_grad():
        net(t(load_rgb(ps[0][1])), t(load_rgb(ps[0][2])))
        vals = {}
        t0 = time.perf_counter()
        for stem, a, b in ps:
            vals[stem] = float(net(t(load_rgb(a)), t(load_rgb(b))))
        tt = time.perf_counter() - t0
    row("LPIPS-alex (%d img %s) vs lpips" % (n, args.size_label), dt * 1e3 / n, tt * 1e3 / n, max_diff(ours, vals),
        "per image; fixture weights on both sides")


def bench_fid(args, pred, ref, state, wdir, tmp):
    patch_pytorch_fid(state)
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations
    from pytorch_fid.inception import InceptionV3
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    files_p = sorted(str(p) for p in Path(pred).glob("*.png"))
    files_r = sorted(str(p) for p in Path(ref).glob("*.png"))
    n = len(files_p)
    # features of one folder
    out = tmp / "feat_pred.safetensors"
    dt, _ = run_osor(args, ["features", "--net", "inception-fid", "--images", str(pred), "--out", str(out),
                            "--weights", str(wdir), "--no-cache"])
    f_ours, meta = read_safetensors(out)
    names = json.loads(meta["names"])
    with torch.no_grad():
        get_activations(files_p[:2], model, batch_size=50, dims=2048, device="cpu", num_workers=0)  # warm-up
        t0 = time.perf_counter()
        act = get_activations(files_p, model, batch_size=50, dims=2048, device="cpu", num_workers=0)
        tt = time.perf_counter() - t0
    order = [Path(f).stem for f in files_p]
    ours = f_ours["features"].astype(np.float64)[[names.index(s) for s in order]]
    row("FID Inception pool3 features (%d img %s) vs pytorch-fid" % (n, args.size_label), dt * 1e3 / n,
        tt * 1e3 / n, float(np.abs(ours - act).max()), "per image; batch 50; fixture weights on both sides")
    # FID end to end, two folders
    dt, out = run_osor(args, ["score", "--metric", "fid", "--pred", str(pred), "--ref", str(ref),
                              "--weights", str(wdir), "--no-cache", "--json"])
    fid_ours = json.loads(out)
    fid_ours = fid_ours.get("value", fid_ours.get("fid", fid_ours.get("mean")))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        a1 = get_activations(files_p, model, batch_size=50, dims=2048, device="cpu", num_workers=0)
        a2 = get_activations(files_r, model, batch_size=50, dims=2048, device="cpu", num_workers=0)
        fid_theirs = calculate_frechet_distance(a1.mean(0), np.cov(a1, rowvar=False),
                                                a2.mean(0), np.cov(a2, rowvar=False))
        tt = time.perf_counter() - t0
    row("FID end to end (2x%d img %s) vs pytorch-fid" % (n, args.size_label), dt * 1e3 / (2 * n),
        tt * 1e3 / (2 * n), abs(float(fid_ours) - float(fid_theirs)) if fid_ours is not None else None,
        "per image; FID %s (ours) vs %s; N=%d < 2048 so the covariances are singular" % (fid_ours, fid_theirs, n))


def bench_frechet(args, tmp):
    from pytorch_fid.fid_score import calculate_frechet_distance
    from cleanfid.fid import frechet_distance as cf_fd
    from torchmetrics.image.fid import _compute_fid
    rng = np.random.default_rng(0)
    n, d = args.fd_n, 2048
    f1 = rng.standard_normal((n, d))
    f2 = rng.standard_normal((n, d)) * 1.1 + 0.05
    write_safetensors(tmp / "fd1.safetensors", {"features": f1}, {"names": json.dumps(["a%d" % i for i in range(n)])})
    write_safetensors(tmp / "fd2.safetensors", {"features": f2}, {"names": json.dumps(["b%d" % i for i in range(n)])})
    dt, out = run_osor(args, ["score", "--metric", "fid", "--pred-features", str(tmp / "fd1.safetensors"),
                              "--ref-features", str(tmp / "fd2.safetensors"), "--json"])
    o = json.loads(out)
    ours = float(o.get("value", o.get("fid", o.get("mean"))))

    def stats(f):
        return f.mean(0), np.cov(f, rowvar=False)

    def tm(f_a, f_b):
        a, b = torch.from_numpy(f_a), torch.from_numpy(f_b)
        ma, mb = a.mean(0), b.mean(0)
        ca = ((a - ma).T @ (a - ma)) / (a.shape[0] - 1)
        cb = ((b - mb).T @ (b - mb)) / (b.shape[0] - 1)
        return float(_compute_fid(ma, ca, mb, cb))

    peers = (("pytorch-fid calculate_frechet_distance", lambda a, b: calculate_frechet_distance(*stats(a), *stats(b))),
             ("clean-fid frechet_distance", lambda a, b: cf_fd(*stats(a), *stats(b))),
             ("torchmetrics _compute_fid", tm))
    for name, fn in peers:
        t0 = time.perf_counter()
        v = float(fn(f1, f2))
        tt = time.perf_counter() - t0
        row("Frechet distance (N=%d, D=%d float64) vs %s" % (n, d, name), dt * 1e3, tt * 1e3, abs(ours - v),
            "per call incl. mean/cov; ours = whole osor command; FD %.6f vs %.6f" % (ours, v))


def bench_sdxl(args):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    cfg_dir = REPO / "model" / "configs" / "tiny" / "sdxl-inpainting"
    ucfg = json.load(open(cfg_dir / "unet" / "config.json"))
    ucfg["out_channels"] = 5  # OSOR's one-step UNet: conv_out widened to 4 + alpha (as osor's random build does)
    vcfg = json.load(open(cfg_dir / "vae" / "config.json"))
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(ucfg).eval()
    vae = AutoencoderKL.from_config(vcfg).eval()
    res, it = args.sdxl_res, args.sdxl_iters
    dt, out = run_osor(args, ["latency", "--method", "osor-sdxl", "--random-weights",
                              str(REPO / "model" / "configs" / "tiny"), "--res", str(res), "--warmup", "1",
                              "--iters", str(it), "--json"])
    cfg = json.loads(out)["configs"][0]
    stages = cfg["stages"]
    lat = res // 8
    pooled = 68 - 6 * ucfg["addition_time_embed_dim"]
    x = torch.rand(1, 3, res, res) * 2 - 1
    prompt = torch.randn(1, 77, ucfg["cross_attention_dim"])
    cond = {"text_embeds": torch.randn(1, pooled),
            "time_ids": torch.tensor([[res, res, 0, 0, res, res]], dtype=torch.float32)}
    t = torch.tensor([499])
    times = {"vae_encode": [], "unet": [], "vae_decode": []}
    with torch.no_grad():
        for i in range(it + 1):
            t0 = time.perf_counter()
            z = vae.encode(x).latent_dist.sample() * vcfg["scaling_factor"]
            t1 = time.perf_counter()
            zin = torch.cat([z, torch.ones(1, 1, lat, lat), z], 1)
            o = unet(zin, t, encoder_hidden_states=prompt, added_cond_kwargs=cond).sample
            t2 = time.perf_counter()
            vae.decode(o[:, :4] / vcfg["scaling_factor"]).sample
            t3 = time.perf_counter()
            if i:  # first = warm-up
                times["vae_encode"].append(t1 - t0)
                times["unet"].append(t2 - t1)
                times["vae_decode"].append(t3 - t2)
    total = 0.0
    for k in ("vae_encode", "unet", "vae_decode"):
        m = float(np.median(times[k])) * 1e3
        total += m
        row("SDXL tiny %s @%d (median of %d) vs diffusers" % (k, res, it), stages[k], m, None,
            "random weights (different draws): time only")
    row("SDXL tiny encode+unet+decode @%d vs diffusers" % res, sum(stages[k] for k in times), total, None,
        "sum of stage medians; osor's whole remove() median %.2f ms" % cfg["median_ms"])


def make_large(tmp, count, size):
    rng = np.random.default_rng(1)
    p, r = tmp / "large_pred", tmp / "large_ref"
    p.mkdir()
    r.mkdir()
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 3) % 256, ((xx + yy) // 4) % 256], -1).astype(np.float64)
        base = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        noisy = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(base).save(r / ("l%02d.png" % i))
        Image.fromarray(noisy).save(p / ("l%02d.png" % i))
    return p, r


def machine_info(args):
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pk = {}
    for name in ("torch", "torchvision", "numpy", "scipy", "pillow", "scikit-image", "torchmetrics", "pytorch-fid",
                 "clean-fid", "lpips", "diffusers", "transformers"):
        try:
            pk[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pk[name] = None
    ov = subprocess.run([args.osor, "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": args.threads, "python": platform.python_version(),
            "platform": platform.platform(), "osor_version": ov, "osor": args.osor, "packages": pk,
            "torch_threads": torch.get_num_threads()}


def markdown(info):
    lines = ["Machine: %s, %d cores; threads used: %d (torch.set_num_threads and OMP_NUM_THREADS); %s; torch %s"
             % (info["cpu"], info["cores"], info["threads"], info["osor_version"], info["packages"]["torch"]), "",
             "| what | ours (ms) | theirs (ms) | ratio theirs/ours | max abs diff | note |",
             "|---|---:|---:|---:|---:|---|"]
    for r in ROWS:
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            r["what"], fmt(r["ours_ms"], 2), fmt(r["theirs_ms"], 2), fmt(r["ratio_theirs_over_ours"], 2),
            fmt(r["max_abs_diff"], sci=True), r["note"]))
    if NOTES:
        lines += ["", "Not measured / caveats:"] + ["* " + n for n in NOTES]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--osor", default=str(REPO / "build" / "harness" / "osor"))
    ap.add_argument("--bench", default=str(REPO / "bench_data" / "sample"))
    ap.add_argument("--conformance", default=str(REPO.parent / "shared" / "conformance"))
    ap.add_argument("--large", type=int, default=0, help="also PSNR/SSIM/LPIPS on this many synthetic 1024² pairs")
    ap.add_argument("--fd-n", type=int, default=256, help="rows of the random feature sets for the Frechet rows")
    ap.add_argument("--sdxl-res", type=int, default=256)
    ap.add_argument("--sdxl-iters", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: pixel,lpips,fid,fd,sdxl")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    info = machine_info(args)
    pred, ref = Path(args.bench) / "input", Path(args.bench) / "gt"
    conf = Path(args.conformance)
    tmp = Path(tempfile.mkdtemp(prefix="osor_peers_"))
    try:
        wdir = tmp / "weights"
        state, lp = make_weights_dir(conf, wdir)
        sets = [(pred, ref, "256²")]
        if args.large:
            lp_, lr_ = make_large(tmp, args.large, 1024)
            sets.append((lp_, lr_, "1024²"))
        for p, r, label in sets:
            args.size_label = label
            if "pixel" not in skip:
                bench_psnr_ssim(args, p, r)
            if "lpips" not in skip:
                bench_lpips(args, p, r, lp, wdir)
        args.size_label = "256²"
        if "fid" not in skip:
            bench_fid(args, pred, ref, state, wdir, tmp)
        if "fd" not in skip:
            bench_frechet(args, tmp)
        if "sdxl" not in skip:
            bench_sdxl(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    NOTES.extend([
        "clean-fid feature extraction: its Inception is a TorchScript file fetched at run time (no internet), and it "
        "cannot take the fixture weights; only its frechet_distance is compared.",
        "torchmetrics FrechetInceptionDistance feature extraction: torch-fidelity's Inception weights are a download; "
        "only torchmetrics' _compute_fid (the Frechet distance of the metric) is compared.",
        "SDXL: both sides use random weights of the tiny configs but different draws, so no value comparison.",
        "OSOR rows time the whole command (process start, LibTorch load, decoding); for short jobs this start-up "
        "cost dominates and the ratio understates the steady-state speed-up.",
    ])
    md = markdown(info)
    print(md)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"format": "osor-python-peers/1", "machine": info, "rows": ROWS, "notes": NOTES,
                       "command": " ".join([sys.executable] + sys.argv)}, f, indent=2)


if __name__ == "__main__":
    main()
