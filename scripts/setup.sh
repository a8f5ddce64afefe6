#!/usr/bin/env bash
# Installs what OSOR needs and builds it (idempotent: only what is missing is installed, builds are incremental).
# Sourced by scripts/run.sh and scripts/test.sh.
#
# Two LibTorch builds (README "Build"):
#   build/        the default: LibTorch 2.x with CUDA compiled in, from the pinned `torch` wheel on PyPI in a
#                 project-local virtual environment (.venv/); needs the CUDA toolkit (nvcc) the machines have.
#   build-1.13/   the compatibility build against Debian's libtorch-dev 1.13 (CPU); OSOR_COMPAT_BUILD=0 skips it.
# OSOR_TORCH=debian builds only against Debian's 1.13, into build/ (a machine without PyPI or the CUDA toolkit).
# OSOR_BUILD_DIR overrides build/; extra configure arguments in $OSOR_CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

# The torch release closest to the GPU machine's (2.11 + CUDA 13); its wheel ships LibTorch and its CMake config.
OSOR_TORCH_VERSION="${OSOR_TORCH_VERSION:-2.11.0}"
OSOR_TORCH="${OSOR_TORCH:-pip}"

OSOR_APT_PACKAGES=(
  build-essential cmake ccache python3-venv
  libtorch-dev libopencv-dev libeigen3-dev libhdf5-dev nlohmann-json3-dev libcli11-dev doctest-dev libbenchmark-dev
  libcurl4-openssl-dev  # osor weights fetch
  libgloo-dev  # Gloo's headers, which c10d's ProcessGroupGloo includes: osor train's data parallelism on the CPU
  # Debian's libtorch calls the generic libblas.so.3, which is netlib's reference BLAS unless an optimised one
  # provides it: OpenBLAS makes every CPU matmul (CLIP, attention, linear layers) ~30x faster.
  libopenblas0-pthread
)
if [[ "${OSOR_WITH_BROWSER_TESTS:-1}" == 1 ]]; then OSOR_APT_PACKAGES+=(chromium); fi

missing=()
for pkg in "${OSOR_APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "osor setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ccache shares compiles between build trees and clones (README "Build": a second clean clone rebuilds from the
# cache); CMake passes it the precompiled-header settings it needs.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"

configure_and_build() {  # BUILD_DIR TORCH_DIR (the folder of TorchConfig.cmake), then extra configure arguments
  local dir="$1" torch_dir="$2"
  shift 2
  mkdir -p "$dir"
  # A build folder configured against another LibTorch keeps that one's cached library paths: start it afresh.
  local fresh=()
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -qx "Torch_DIR:PATH=$torch_dir" "$dir/CMakeCache.txt"; then fresh=(--fresh); fi
  cmake "${fresh[@]}" -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_dir" "$@" ${OSOR_CMAKE_ARGS:-} \
    >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log" >&2; return 1; }
  echo "osor setup: $dir: $(grep -E "Torch .*CUDA support" "$dir/configure.log" | sed 's/^-- //')" >&2
  cmake --build "$dir" -j"$(nproc)"
}

# The pinned torch wheel (and the CUDA libraries it links) in .venv/, installed once; pip's cache keeps the
# download for the next machine that shares it.
torch_cmake_prefix() {
  local venv=.venv
  if [[ ! -x "$venv/bin/python" ]]; then python3 -m venv "$venv" >&2; fi
  if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$OSOR_TORCH_VERSION')" 2>/dev/null; then
    echo "osor setup: installing torch==$OSOR_TORCH_VERSION into $venv (LibTorch $OSOR_TORCH_VERSION with CUDA)" >&2
    "$venv/bin/python" -m pip install -q "torch==$OSOR_TORCH_VERSION" >&2
  fi
  # The torch folder first, so its lib/ is searched before the system's (Debian's libtorch.so is there too).
  "$venv/bin/python" -c "import os, torch; p = torch.utils.cmake_prefix_path; print(os.path.dirname(os.path.dirname(p)) + ';' + p)" 2>/dev/null
}

DEBIAN_TORCH_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch
BUILD_DIR="${OSOR_BUILD_DIR:-build}"
if [[ "$OSOR_TORCH" == debian ]]; then
  configure_and_build "$BUILD_DIR" "$DEBIAN_TORCH_DIR"
else
  prefix="$(torch_cmake_prefix)"
  configure_and_build "$BUILD_DIR" "${prefix#*;}/Torch" -DCMAKE_PREFIX_PATH="$prefix"
  if [[ "${OSOR_COMPAT_BUILD:-1}" == 1 ]]; then configure_and_build build-1.13 "$DEBIAN_TORCH_DIR"; fi
fi
