#!/usr/bin/env bash
# Copies the header-only dependencies (nlohmann/json, CLI11, doctest, Eigen) from this machine's packages into
# DIR/include, for a machine that has neither the packages nor a network (the GPU machine: its image has CMake,
# LibTorch and CUDA but none of these). CMake uses them through -DOSOR_VENDOR_INCLUDE_DIR=DIR/include
# (cmake/OsorHeaderDeps.cmake) only for packages it cannot find; scripts/gpu_check.sh passes .gpu_deps/include
# when present. About 9 MB.
#   bash scripts/bundle_header_deps.sh [.gpu_deps]
set -euo pipefail
DIR="${1:-.gpu_deps}"
mkdir -p "$DIR/include"
for src in /usr/include/nlohmann /usr/include/CLI /usr/include/doctest /usr/include/eigen3/Eigen; do
  [[ -d "$src" ]] || { echo "bundle_header_deps.sh: $src missing (install nlohmann-json3-dev libcli11-dev doctest-dev libeigen3-dev)" >&2; exit 2; }
  rm -rf "$DIR/include/$(basename "$src")"
  cp -r "$src" "$DIR/include/"
done
du -sh "$DIR/include"
