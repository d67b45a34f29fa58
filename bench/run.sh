#!/usr/bin/env bash
# Loopback benchmark of the default exchange against its floor (issue 11).
# Builds Release, generates the workload (4 x K chunks, seed 1), runs the
# floor --warmup times without counting it (the first run after a pause was
# up to 2x slower here), then N times in turn: the floor
# (bench/bare_relay.cpp: the same bytes moved the same way with no protocol,
# receivers pwrite and SHA-256 every byte), the exchange (server + 4
# clients), the floor without hashing and the floor with each client first
# hashing its own file (--hash-own). Each run's wall seconds, CPU
# seconds (user, system) and peak RSS of every process; the exchange's logs
# must be byte-identical in every run. Then a shorter run of the floor and of
# the exchange under `strace -f -c` (4 x --trace-chunks chunks) gives
# syscalls per delivered MiB. Prints medians and the ratios chunkex / floor;
# writes bench/results/latest.json. Each timed run starts once the VM has
# finished handing the previous run's freed memory back to its host, at most
# --settle-s seconds later (bench/lib.sh, settle_memory; 0: at once).
#
#   bench/run.sh [--runs N] [--warmup W] [--chunks K] [--window W] [--trace-chunks K]
#                [--settle-s S]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

runs=3
warmup=1
chunks=3907
window=""
trace_chunks=300
settle_s=60
parse_options "$0" "runs warmup chunks window trace-chunks settle-s" "$@"

scripts/deps.sh time python3 strace
CHUNKEX_BUILD_DIR=build-release CHUNKEX_BUILD_TYPE=Release \
  CHUNKEX_TARGETS="chunkex-server chunkex-client chunkex-gen chunkex-bare-relay" scripts/build.sh
bin=build-release
work=bench/data/run
results=bench/results
mkdir -p "$work" "$results"
ensure_workload bench/data "$chunks"
ensure_workload "$work/trace" "$trace_chunks"
window_flags=()
[ -n "$window" ] && window_flags=(--window "$window")

# floor_run DIR INPUT [FLAG...]: one run of the floor program, after
# settle_memory; sets WALL_S.
floor_run() {
  local dir=$1 input=$2 start
  shift 2
  rm -rf "$dir" && mkdir -p "$dir"
  settle_memory
  start=$(now)
  measured floor "$dir" "$bin/bench/chunkex-bare-relay" --data-dir "$input" --out-dir "$dir/out" "$@"
  wait "$STARTED" || { cat "$dir/floor.console" >&2; echo "bench: the floor failed" >&2; exit 1; }
  WALL_S=$(seconds_since "$start")
  pids=()
  rm -rf "$dir/out"
}

# record KIND DIR: appends the run in DIR (WALL_S, *.time) to the records.
records="$work/runs.jsonl"
: > "$records"
record() {
  python3 bench/report.py record --kind "$1" --dir "$2" --wall-s "$WALL_S" \
    --settled-s "$SETTLED_S" --append "$records"
}

for run in $(seq "$warmup"); do
  echo "== warm-up $run of $warmup (not counted)"
  floor_run "$work/floor" bench/data/input
done
for run in $(seq "$runs"); do
  echo "== run $run of $runs"
  floor_run "$work/floor" bench/data/input
  record floor "$work/floor"
  live_exchange "$work/exchange" bench/data/input "${window_flags[@]}"
  record chunkex "$work/exchange"
  if [ "$run" -eq 1 ]; then
    rm -rf "$work/logs-run1" && cp -r "$work/exchange/logs" "$work/logs-run1"
  elif ! logs_identical "$work/logs-run1" "$work/exchange/logs"; then
    echo "bench: run $run's logs differ from run 1's" >&2
    exit 1
  fi
  floor_run "$work/floor-no-hash" bench/data/input --no-hash
  record floor_no_hash "$work/floor-no-hash"
  # Beside the floor, not instead of it: the floor plus the own-file hashing
  # a chunkex client cannot skip (ANNOUNCE carries the digest).
  floor_run "$work/floor-hash-own" bench/data/input --hash-own
  record floor_hash_own "$work/floor-hash-own"
done

echo "== syscalls: strace -f -c, 4 x $trace_chunks chunks"
tracer=strace
floor_run "$work/trace-floor" "$work/trace/input"
live_exchange "$work/trace-exchange" "$work/trace/input" "${window_flags[@]}"
tracer=""

python3 bench/report.py final --runs "$records" --chunks "$chunks" --window "${window:-default}" \
  --settle-max-s "$settle_s" \
  --summary "$work/exchange/logs/summary.json" --input bench/data/input \
  --trace-floor "$work/trace-floor" --trace-chunkex "$work/trace-exchange" \
  --trace-input "$work/trace/input" --output "$results/latest.json"
