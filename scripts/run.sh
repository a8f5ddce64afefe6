#!/usr/bin/env bash
# Set up a fresh Debian 12 machine, build, and run the main job on the bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
OSOR_WITH_BROWSER_TESTS=0 bash scripts/setup.sh
BUILD_DIR="${OSOR_BUILD_DIR:-build}"
img=tests/fixtures/conformance/images
echo "== osor score: PSNR / SSIM of the bundled example pair (p01) =="
"$BUILD_DIR/osor" score --metric psnr --pred "$img/p01_pred.png" --ref "$img/p01_ref.png"
"$BUILD_DIR/osor" score --metric ssim --pred "$img/p01_pred.png" --ref "$img/p01_ref.png"
"$BUILD_DIR/osor" score --metric ssim --region mask --mask "$img/p01_mask.png" --pred "$img/p01_pred.png" --ref "$img/p01_ref.png"
