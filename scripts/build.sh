#!/usr/bin/env bash
# Configures and builds chunkex into build/ (or $CHUNKEX_BUILD_DIR); only the
# targets in $CHUNKEX_TARGETS when it is set. The install prefix is /usr, the
# Debian package's layout, since the tests pack the package from this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${CHUNKEX_BUILD_DIR:-build}"
build_type="${CHUNKEX_BUILD_TYPE:-Release}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_INSTALL_PREFIX=/usr "$@" >/dev/null
# shellcheck disable=SC2086  # CHUNKEX_TARGETS is a list of words
cmake --build "$build_dir" ${CHUNKEX_TARGETS:+--target $CHUNKEX_TARGETS}
