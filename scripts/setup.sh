#!/usr/bin/env bash
# Installs what OSOR needs from Debian 12's apt (idempotent: only missing packages are installed),
# then configures and builds into ./build. Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

OSOR_APT_PACKAGES=(
  build-essential cmake ccache
  libtorch-dev libopencv-dev libeigen3-dev libhdf5-dev nlohmann-json3-dev libcli11-dev doctest-dev libbenchmark-dev
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

BUILD_DIR="${OSOR_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${OSOR_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
