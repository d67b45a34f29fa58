#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ctest --test-dir "${CHUNKEX_BUILD_DIR:-build}" --output-on-failure
