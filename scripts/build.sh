#!/usr/bin/env bash
# Configures and builds chunkex into build/ (or $CHUNKEX_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${CHUNKEX_BUILD_DIR:-build}"
build_type="${CHUNKEX_BUILD_TYPE:-Release}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
cmake --build "$build_dir"
