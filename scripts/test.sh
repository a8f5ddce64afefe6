#!/usr/bin/env bash
# Set up (as scripts/run.sh does), build, and run the whole test suite through ctest: in build/ (LibTorch 2.x with
# CUDA compiled in; the tests run on the CPU) and in the compatibility build build-1.13/ (Debian's LibTorch 1.13).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIRS=("${OSOR_BUILD_DIR:-build}")
if [[ "${OSOR_TORCH:-pip}" != debian && "${OSOR_COMPAT_BUILD:-1}" == 1 ]]; then BUILD_DIRS+=(build-1.13); fi
for dir in "${BUILD_DIRS[@]}"; do
  echo "== ctest in $dir ($(grep -E -o "Torch [0-9.]+, CUDA support: [A-Z]+" "$dir/configure.log" || echo "configured by hand")) ==" >&2
  (cd "$dir" && ctest --output-on-failure -j"$(nproc)")
  # A passing tree's scratch files (converted weights, CLI runs) are not needed again: free the disk before the next
  # tree runs. After a failure they stay for the post-mortem (set -e stops above).
  echo "osor test: $dir passed; removing its test scratch ($(du -sh "$dir/tests/scratch" 2>/dev/null | cut -f1))" >&2
  find "$dir/tests/scratch" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
done
