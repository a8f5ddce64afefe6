#!/usr/bin/env bash
# Set up a fresh Debian 12 machine, build, and run the main job on the bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
OSOR_WITH_BROWSER_TESTS=0 OSOR_COMPAT_BUILD=0 bash scripts/setup.sh
BUILD_DIR="${OSOR_BUILD_DIR:-build}"
echo "== osor eval: the bundled sample benchmark, built-in methods, every metric whose weights are present =="
"$BUILD_DIR/harness/osor" eval "$@"
