#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ (or $CHUNKEX_ASAN_BUILD_DIR) and runs the whole test suite there.
#
# Sanitizer reports go to files in <build dir>/sanitizer-logs/ rather than to
# stderr, so that a report from a process whose non-zero exit a test expects
# (a killed or refused client) is not lost: any report fails the run, and is
# printed at the end.
#
# CHUNKEX_ASAN_SKIP_BENCH=1 leaves out the bench/ tools but the WAN link
# emulator, which test_cross_host.sh uses (CI sets it). CC=clang CXX=clang++
# builds with clang in a new build directory (CI does: faster).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build_dir="${CHUNKEX_ASAN_BUILD_DIR:-build-asan}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DCHUNKEX_SANITIZE=ON >/dev/null
targets=()
if [ -n "${CHUNKEX_ASAN_SKIP_BENCH:-}" ]; then
  # What "all" builds (the top-level targets and each directory's "all"),
  # but bench/all; plus the WAN link emulator.
  mapfile -t targets < <(ninja -C "$build_dir" -t query all |
    awk '/^  input:/ { f = 1; next } /^  outputs:/ { f = 0 } f && $1 !~ /^bench\// { print $1 }')
  targets+=(chunkex-wan-proxy)
fi
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$build_dir" --target "${targets[@]}"
else
  cmake --build "$build_dir"
fi

logs="$PWD/$build_dir/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
# Tests that bound memory loosen the bound for ASan's shadow and quarantine.
export CHUNKEX_SANITIZED=1
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

status=0
ctest --test-dir "$build_dir" --output-on-failure || status=$?

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "sanitizer reports:" >&2
  for report in $reports; do
    echo "==== $report" >&2
    cat "$report" >&2
  done
  status=1
fi
exit "$status"
