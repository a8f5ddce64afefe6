#!/usr/bin/env bash
# GPU-machine check (issue 6): build against this machine's LibTorch without OpenCV, run the CUDA tests (metrics
# and the one-step model on cuda against their CPU results, the latency profiler on cuda), and measure
# `osor latency` for OSOR-SDXL (one step) and SDXL-Inpainting (multi-step) at 1024² in bf16 with random full-size
# weights built from the real configs (model/configs/full). Everything lands in OUTDIR:
#   env.txt              machine, LibTorch, CUDA, nvidia-smi
#   configure.log build.log tests_cuda.log   the phases' output
#   latency_*.json       `osor latency --json` (README "Latency") per variant: osor_sdxl (OSOR's 512² policy),
#                        osor_sdxl_1024 (processing at 1024²), its _cudnn_off / _nhwc / _graphs / _graphs_nhwc
#                        execution levers (graphs: GPU only), sdxl_inpaint, osor_flux (OSOR-FLUX one step,
#                        long side 1024: 1024² processing; random full-size FLUX.1-Fill transformer, ~24 GB in bf16)
#   train_step_sdxl.json `osor train-step --json`: one OSOR-SDXL Phase I training step (G + D batch; batch 2, 512²,
#                        bf16, random full-size SDXL + convnext_xxlarge D + LPIPS-VGG): milliseconds, peak memory
#   summary.json         medians, ratios to SDXL-Inpainting, the fastest variants, phase times, commands;
#                        phases.tsv: seconds per phase
# Budget: about 8 minutes on one H200 (16 cores), build included (the training step adds about a minute).
#
#   bash scripts/gpu_check.sh OUTDIR                 on the GPU machine
#   bash scripts/gpu_check.sh --cpu-smoke OUTDIR     here, without a GPU: the same phases on the CPU with the tiny
#                                                    configs (model/configs/tiny), 64², fp32: proves the script
#   bash scripts/gpu_check.sh --dry-run OUTDIR       print the commands only
# Options: --deps DIR (header-only dependencies for a machine without their packages; default .gpu_deps/include
# when present, made by scripts/bundle_header_deps.sh), --build-dir DIR (default build-gpu), --jobs N, --tar FILE
# (archive OUTDIR into FILE at the end); extra configure arguments in $OSOR_CMAKE_ARGS.
# A failing latency run is recorded and the others still run; the exit status is non-zero if any phase failed.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

MODE=gpu DRY_RUN=0 DEPS="" BUILD_DIR="" JOBS="" TAR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-smoke) MODE=cpu; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --deps) DEPS="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --tar) TAR="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "gpu_check.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -eq 1 ]] || usage
OUT="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
# --tar FILE: OUTDIR archived into one file when the script ends, whatever happened (for machines that return few
# files).
if [[ -n "$TAR" ]]; then
  TAR="$(cd "$(dirname "$TAR")" && pwd)/$(basename "$TAR")"
  trap 'tar czf "$TAR" -C "$(dirname "$OUT")" "$(basename "$OUT")" || true' EXIT
fi

if [[ "$MODE" == gpu ]]; then
  BUILD_DIR="${BUILD_DIR:-build-gpu}" JOBS="${JOBS:-16}"
  DEVICE=cuda DTYPE=bf16 RES=1024 CONFIGS=model/configs/full
  OSOR_WARMUP=5 OSOR_ITERS=20 INPAINT_WARMUP=2 INPAINT_ITERS=5 INPAINT_METHOD="sdxl-inpaint:size=1024"
  BUILD_LIMIT=330 TEST_LIMIT=60 LATENCY_LIMIT=150
  TRAIN_RES=512 TRAIN_WARMUP=1 TRAIN_ITERS=3 TRAIN_LIMIT=150
else
  BUILD_DIR="${BUILD_DIR:-build-gpu-smoke}" JOBS="${JOBS:-2}"
  DEVICE=cpu DTYPE=fp32 RES=64 CONFIGS=model/configs/tiny
  # sdxl-inpaint processes at its own size (1024² by default): 64² and 2 steps keep the smoke run short.
  OSOR_WARMUP=1 OSOR_ITERS=3 INPAINT_WARMUP=1 INPAINT_ITERS=2 INPAINT_METHOD="sdxl-inpaint:size=64,steps=2"
  BUILD_LIMIT=7200 TEST_LIMIT=600 LATENCY_LIMIT=600
  TRAIN_RES=96 TRAIN_WARMUP=0 TRAIN_ITERS=1 TRAIN_LIMIT=600
fi
if [[ -z "$DEPS" && -d "$ROOT/.gpu_deps/include" ]]; then DEPS="$ROOT/.gpu_deps/include"; fi

now_ns() { date +%s%N; }
seconds_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
START=$(now_ns)
FAILED=()
: > "$OUT/phases.tsv"
: > "$OUT/commands.txt"

# run_phase NAME LIMIT_S LOG CMD...: runs CMD with a time limit, output to LOG (and the terminal), records the
# phase's seconds and status; never exits the script on failure.
run_phase() {
  local name="$1" limit="$2" log="$3"; shift 3
  printf '%q ' "$@" >> "$OUT/commands.txt"; echo >> "$OUT/commands.txt"
  if [[ "$DRY_RUN" == 1 ]]; then printf '[dry-run] %s:' "$name"; printf ' %q' "$@"; echo; return 0; fi
  local t0 seconds status=0
  t0=$(now_ns)
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$log" || status=$?
  seconds=$(seconds_since "$t0")
  printf '%s\t%s\t%s\n' "$name" "$seconds" "$status" >> "$OUT/phases.tsv"
  echo "== $name: status $status, $seconds s"
  if [[ "$status" != 0 ]]; then FAILED+=("$name"); fi
  return 0
}

# Environment: which LibTorch, which GPU. The same recipe as scripts/setup.sh's default build: the torch that
# python imports ($OSOR_PYTHON, else the project's .venv when present, else python3), its Torch_DIR, and its own
# folder first on the prefix path so that its lib/ wins over a system libtorch.
PYTHON="${OSOR_PYTHON:-}"
if [[ -z "$PYTHON" ]]; then if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi; fi
PREFIX_ARGS=()
TORCH_PREFIX=""
if TORCH_PREFIX=$("$PYTHON" -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
  PREFIX_ARGS+=("-DTorch_DIR=$TORCH_PREFIX/Torch" "-DCMAKE_PREFIX_PATH=$(dirname "$(dirname "$TORCH_PREFIX")");$TORCH_PREFIX")
elif [[ "$MODE" == gpu ]]; then
  echo "gpu_check.sh: python3 cannot import torch, so there is no LibTorch to build against" >&2; exit 2
fi
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "host: $(hostname)"; echo "mode: $MODE"
  echo "revision: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  echo "torch cmake prefix: ${TORCH_PREFIX:-system (find_package default)}"
  "$PYTHON" -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>/dev/null || true
  command -v nvcc >/dev/null && nvcc --version | tail -2
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
  echo "cmake: $(cmake --version | head -1)"; echo "cores: $(nproc)"; echo "deps: ${DEPS:-installed packages}"
} > "$OUT/env.txt" 2>&1 || true
cat "$OUT/env.txt"

# 1. Configure: OpenCV-free (osor_model, osor_metrics, adapters without image I/O, the latency profiler, an `osor`
#    with `osor latency`, the OpenCV-free tests). TORCH_CUDA_ARCH_LIST spares LibTorch's CMake the GPU probe.
CONFIGURE=(cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DOSOR_WITH_OPENCV=OFF -DOSOR_BUILD_PERF=OFF
           "${PREFIX_ARGS[@]}")
if command -v ninja >/dev/null; then CONFIGURE+=(-G Ninja); fi
if [[ -n "$DEPS" ]]; then CONFIGURE+=("-DOSOR_VENDOR_INCLUDE_DIR=$DEPS"); fi
# Extra configure arguments, e.g. -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON to prove the vendored headers.
if [[ -n "${OSOR_CMAKE_ARGS:-}" ]]; then read -r -a EXTRA <<< "$OSOR_CMAKE_ARGS"; CONFIGURE+=("${EXTRA[@]}"); fi
if [[ "$MODE" == gpu ]]; then
  CONFIGURE+=(-DTORCH_CUDA_ARCH_LIST=9.0)
  # A CUDA LibTorch's CMake config (Caffe2's public/cuda.cmake) needs a CUDA toolkit with nvcc: find_package(CUDA)
  # locates it through nvcc, then enable_language(CUDA). Look beyond PATH too.
  NVCC=$(command -v nvcc || true)
  for candidate in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    if [[ -z "$NVCC" && -n "$candidate" && -x "$candidate/bin/nvcc" ]]; then NVCC="$candidate/bin/nvcc"; fi
  done
  if [[ -n "$NVCC" ]]; then
    CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
    export PATH="$CUDA_ROOT/bin:$PATH"
    CONFIGURE+=("-DCMAKE_CUDA_COMPILER=$NVCC" "-DCUDA_TOOLKIT_ROOT_DIR=$CUDA_ROOT" "-DCUDAToolkit_ROOT=$CUDA_ROOT")
    echo "nvcc: $NVCC ($("$NVCC" --version | grep -o 'release [0-9.]*' || true))" | tee -a "$OUT/env.txt"
  else
    echo "gpu_check.sh: no nvcc on PATH, in \$CUDA_HOME or /usr/local/cuda; LibTorch's CMake config needs a CUDA" \
         "toolkit, so configure will likely fail" | tee -a "$OUT/env.txt" >&2
  fi
fi
run_phase configure 120 "$OUT/configure.log" "${CONFIGURE[@]}"
# 2. Build only what the check runs.
run_phase build "$BUILD_LIMIT" "$OUT/build.log" cmake --build "$BUILD_DIR" -j "$JOBS" --target osor_tests osor

OSOR="$BUILD_DIR/harness/osor"
TESTS="$BUILD_DIR/tests/osor_tests"
if [[ "$DRY_RUN" == 0 && ( ! -x "$OSOR" || ! -x "$TESTS" ) ]]; then
  echo "gpu_check.sh: the build produced no $OSOR or $TESTS; see $OUT/build.log" >&2
  printf '%s\n' "${FAILED[@]}" > "$OUT/failed.txt"; exit 1
fi

# 3. CUDA tests (names contain "cuda"): pixel metrics and networks on cuda vs CPU, the one-step model on cuda vs
#    CPU with the same random weights, the latency profiler on cuda. Each says SKIPPED where there is no GPU.
#    Conformance fixtures are read from .gpu_fixtures when it was carried along (else those tests skip).
if [[ -d "$ROOT/.gpu_fixtures" ]]; then export OSOR_CONFORMANCE_DIR="$ROOT/.gpu_fixtures"; fi
run_phase tests_cuda "$TEST_LIMIT" "$OUT/tests_cuda.log" "$TESTS" -tc='*cuda*' --no-intro

# 4. Latency: one-step OSOR-SDXL (its resize policy processes a 1024² input at 512²) and the 20-step SDXL-Inpainting
#    baseline with classifier-free guidance (at 1024²), random full-size weights, bf16; cuDNN autotuning on
#    (`--cudnn-benchmark auto`). The one-step model also processing the input at full 1024² (short_side=1024,
#    latent 128²: the work diffusers' one-step numbers in issue 6 describe), once per execution lever: eager NCHW,
#    cuDNN autotuning off, a channels-last UNet, CUDA graphs (GPU only), both. Each variant is its own process and
#    its own JSON; summary.json compares them.
LATENCY_COMMON=(--random-weights "$CONFIGS" --res "$RES" --dtype "$DTYPE" --device "$DEVICE" --synthetic --seed 0 --json)
# name | method | extra osor-latency arguments
VARIANTS=(
  "osor_sdxl|osor-sdxl|"
  "osor_sdxl_1024|osor-sdxl:short_side=$RES|"
  "osor_sdxl_1024_cudnn_off|osor-sdxl:short_side=$RES|--cudnn-benchmark off"
  "osor_sdxl_1024_nhwc|osor-sdxl:short_side=$RES,channels_last=1|"
)
if [[ "$MODE" == gpu ]]; then
  VARIANTS+=("osor_sdxl_graphs|osor-sdxl:cuda_graphs=1|"
             "osor_sdxl_1024_graphs|osor-sdxl:short_side=$RES,cuda_graphs=1|"
             "osor_sdxl_1024_graphs_nhwc|osor-sdxl:short_side=$RES,cuda_graphs=1,channels_last=1|")
fi
for variant in "${VARIANTS[@]}"; do
  IFS='|' read -r name method extra <<< "$variant"
  read -r -a extra_args <<< "$extra"
  run_phase "latency_$name" "$LATENCY_LIMIT" "$OUT/latency_$name.log" \
    "$OSOR" latency --method "$method" "${LATENCY_COMMON[@]}" --warmup "$OSOR_WARMUP" --iters "$OSOR_ITERS" \
    "${extra_args[@]}" --out "$OUT/latency_$name.json"
done
# OSOR-FLUX one step at the resolution (its policy keeps 1024² as is): issue 17's target, ≤ 170 ms on one H200.
run_phase latency_osor_flux "$LATENCY_LIMIT" "$OUT/latency_osor_flux.log" \
  "$OSOR" latency --method osor-flux "${LATENCY_COMMON[@]}" --warmup "$OSOR_WARMUP" --iters "$OSOR_ITERS" \
  --out "$OUT/latency_osor_flux.json"
run_phase latency_sdxl_inpaint "$LATENCY_LIMIT" "$OUT/latency_sdxl_inpaint.log" \
  "$OSOR" latency --method "$INPAINT_METHOD" "${LATENCY_COMMON[@]}" --warmup "$INPAINT_WARMUP" --iters "$INPAINT_ITERS" \
  --out "$OUT/latency_sdxl_inpaint.json"

# 5. Training: one OSOR-SDXL Phase I step as OSOR trains (issue 15's GPU report): batch 2 at 512², bf16 base weights
#    under autocast, float32 LoRA (rank 256) and conv_out, the full discriminator; warm-up step, then timed steps.
run_phase train_step_sdxl "$TRAIN_LIMIT" "$OUT/train_step_sdxl.log" \
  "$OSOR" train-step --backbone sdxl --phase 1 --random-weights "$CONFIGS" --res "$TRAIN_RES" --batch 2 --dtype "$DTYPE" \
  --device "$DEVICE" --warmup "$TRAIN_WARMUP" --iters "$TRAIN_ITERS" --json --out "$OUT/train_step_sdxl.json"

# 6. Summary: every variant's median, the ratios to SDXL-Inpainting, the fastest variants, from the JSON files (python3's json; no third-party package).
TOTAL=$(seconds_since "$START")
if [[ "$DRY_RUN" == 0 ]]; then
  python3 - "$OUT" "$TOTAL" "$MODE" <<'PY'
import glob, json, os, sys
out, total, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
summary = {"mode": mode, "total_s": total, "phases": {}, "latency": {}}
with open(os.path.join(out, "phases.tsv")) as f:
    for line in f:
        name, seconds, status = line.rstrip("\n").split("\t")
        summary["phases"][name] = {"seconds": float(seconds), "status": int(status)}
for path in sorted(glob.glob(os.path.join(out, "latency_*.json"))):
    name = os.path.basename(path)[len("latency_"):-len(".json")]
    j = json.load(open(path))
    c = j["configs"][0]
    summary["latency"][name] = {"method": j["method"], "median_ms": c["median_ms"], "p90_ms": c["p90_ms"],
                                "min_ms": c["min_ms"], "load_ms": j["load_ms"],
                                "cudnn_benchmark": j.get("cudnn_benchmark"), "stages": c["stages"],
                                "stage_calls": c["stage_calls"], "peak_device_mem_bytes": c["peak_device_mem_bytes"],
                                "res": c["res"], "dtype": c["dtype"], "device": j["device"].get("name")}
for path in sorted(glob.glob(os.path.join(out, "train_step_*.json"))):
    j = json.load(open(path))
    summary.setdefault("train_step", {})[os.path.basename(path)[len("train_step_"):-len(".json")]] = {
        k: j.get(k) for k in ("backbone", "phase", "res", "batch", "dtype", "step_median_ms", "generator_batch_median_ms",
                              "discriminator_batch_median_ms", "device_peak_allocated_gib", "device_peak_reserved_gib",
                              "load_ms", "trainable_parameters")}
lat = summary["latency"]
if "sdxl_inpaint" in lat:
    # SDXL-Inpainting's 20 steps over each one-step variant, and the headline pair: OSOR's own policy (eager
    # and the fastest lever) and full 1024² processing.
    base = lat["sdxl_inpaint"]["median_ms"]
    summary["ratio_sdxl_inpaint_over"] = {k: base / v["median_ms"] for k, v in lat.items() if k != "sdxl_inpaint"}
    for prefix in ("osor_sdxl_1024", "osor_sdxl"):
        group = {k: v for k, v in lat.items() if k == prefix or (k.startswith(prefix + "_") and
                                                                  (prefix != "osor_sdxl" or "1024" not in k))}
        if group:
            best = min(group, key=lambda k: group[k]["median_ms"])
            summary["fastest_" + prefix] = {"variant": best, "median_ms": group[best]["median_ms"],
                                            "ratio_sdxl_inpaint_over": base / group[best]["median_ms"]}
summary["commands"] = open(os.path.join(out, "commands.txt")).read().splitlines()
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(json.dumps({k: v for k, v in summary.items() if k != "commands"}, indent=2))
PY
fi
echo "total $TOTAL s"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf '%s\n' "${FAILED[@]}" > "$OUT/failed.txt"
  echo "gpu_check.sh: failed phases: ${FAILED[*]}" >&2
  exit 1
fi
