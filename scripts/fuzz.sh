#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and runs
# each for SECONDS (default 60) on a copy of its seed corpus, both at once.
# Exits non-zero if a target crashes, leaks, times out or runs out of memory;
# the input that did it is left in build-fuzz/fuzz-artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS]
#   scripts/fuzz.sh --build-only    # build the targets, run nothing
#
# The repository's corpus (tests/fuzz/corpus/) is only read: new inputs go to
# build-fuzz/fuzz-corpus/, which later runs keep using.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [ $# -eq 1 ] && [ "$1" = "--build-only" ]; then
  build_only=1
  set --
fi
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS | --build-only]" >&2
  exit 2
fi

scripts/deps.sh clang libclang-rt-14-dev
build_dir="${CHUNKEX_FUZZ_BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCHUNKEX_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
targets=(frame_decoder relay_connection)
cmake --build "$build_dir" --target "${targets[@]/#/fuzz_}"
[ "$build_only" -eq 1 ] && exit 0

pids=()
for target in "${targets[@]}"; do
  corpus="$build_dir/fuzz-corpus/$target"
  artifacts="$build_dir/fuzz-artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  # A hard stop well after -max_total_time, should a run ever hang on its own.
  timeout --kill-after=30 $((seconds + 120)) \
    "$build_dir/tests/fuzz/fuzz_$target" "$corpus" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$build_dir/fuzz-$target.log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  target="${targets[$i]}"
  log="$build_dir/fuzz-$target.log"
  status=0
  wait "${pids[$i]}" || status=$?
  # A crash while loading the corpus leaves no stats: fields may be missing.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -n 1 | cut -d' ' -f2)
  ft=$({ grep -o 'ft: [0-9]*' "$log" || true; } | tail -n 1 | cut -d' ' -f2)
  corpus_size=$(find "$build_dir/fuzz-corpus/$target" -type f | wc -l)
  crashes=$(find "$build_dir/fuzz-artifacts/$target" -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
    -newer "$log" 2>/dev/null | wc -l)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  echo "fuzz_$target: ${execs:-0} execs in ${seconds} s, cov ${cov:-?}, ft ${ft:-?}," \
       "corpus $corpus_size, crashes $crashes"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    echo "---- fuzz_$target (exit $status), from $log:" >&2
    grep -v -E '^#[0-9]+ +(NEW|REDUCE|pulse|RELOAD)' "$log" | tail -n 60 >&2
  fi
done
exit "$failed"
