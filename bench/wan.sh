#!/usr/bin/env bash
# WAN benchmark: the exchange with every peer behind its own emulated access
# link (bench/wan_proxy.cpp: one-way delay and rate cap per direction). Builds
# Release, generates 4 files x K chunks, runs a plain loopback reference
# (window 1, no proxy), then one exchange per window with a proxy in front of
# each client. For each run: wall seconds (server summary), bytes through the
# busiest proxied direction, the bandwidth floor (those bytes * 8 / rate), the
# ratio wall / floor, whether the logs are byte-identical to the reference,
# and chunkex-sim's prediction for the same setting (--latency-ms delay,
# --bandwidth rate) against the measured wall time (target: within 15 %).
# Results go to bench/results/wan.json. Each run starts once the VM has
# finished returning the previous run's freed memory to its host, at most
# --settle-s seconds later (bench/lib.sh, settle_memory; 0: at once).
#
#   bench/wan.sh [--windows "1 default"] [--chunks 300] [--delay-ms 10]
#                [--rate-mbit 1000] [--buffer-bytes 4194304] [--timeout 600] [--settle-s 60]
#
# "default" in --windows passes no --window flag (the configured default).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

windows="1 default"
chunks=300
delay_ms=10
rate_mbit=1000
buffer_bytes=$((4 << 20))
timeout_s=600 # per process, and so per run
settle_s=60
parse_options "$0" "windows chunks delay-ms rate-mbit buffer-bytes timeout=timeout_s settle-s" "$@"

scripts/deps.sh python3 time
CHUNKEX_BUILD_DIR=build-release CHUNKEX_BUILD_TYPE=Release scripts/build.sh
bin=build-release
work=bench/data/wan
input=$work/input
results=bench/results
mkdir -p "$results" "$work"
ensure_workload "$work" "$chunks"

# Every background process runs under timeout(1), which puts itself and its
# child in a process group of their own: killing the group ends both (this
# replaces bench/lib.sh's cleanup).
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME DIR COMMAND...: runs COMMAND in the background, output and GNU
# time figures (user s, system s, peak RSS KiB) in DIR/NAME.*; pid in STARTED.
start() {
  local name=$1 dir=$2
  shift 2
  timeout -k 5 "$timeout_s" /usr/bin/time -f "%U %S %M" -o "$dir/$name.time" "$@" \
    > "$dir/$name.console" 2>&1 &
  STARTED=$!
  pids+=("$STARTED")
}

# wait_for TEST WHAT: polls TEST for up to 10 s.
wait_for() {
  for _ in $(seq 200); do eval "$1" && return 0; sleep 0.05; done
  echo "wan: timed out waiting for $2" >&2
  exit 1
}

# run_exchange NAME WINDOW PROXIED: one whole exchange in $work/NAME.
run_exchange() {
  local name=$1 window=$2 proxied=$3 dir="$work/$1"
  rm -rf "$dir" && mkdir -p "$dir"
  settle_memory
  local window_flags=()
  [ "$window" != default ] && window_flags=(--window "$window")
  start server "$dir" "$bin/chunkex-server" --host 127.0.0.1 --port 0 --port-file "$dir/server.port" \
    --log-dir "$dir/logs" "${window_flags[@]}"
  local server_pid=$STARTED others=()
  wait_for "[ -s '$dir/server.port' ]" "the server's port"
  for id in A B C D; do
    local port
    port=$(cat "$dir/server.port")
    if [ "$proxied" = yes ]; then
      start "proxy$id" "$dir" "$bin/bench/chunkex-wan-proxy" --upstream-host 127.0.0.1 \
        --upstream-port "$port" --port-file "$dir/proxy$id.port" --stats-file "$dir/proxy$id.json" \
        --delay-ms "$delay_ms" --rate-mbit "$rate_mbit" --buffer-bytes "$buffer_bytes" \
        --exit-after-connections 1
      others+=("$STARTED")
      wait_for "[ -s '$dir/proxy$id.port' ]" "proxy $id's port"
      port=$(cat "$dir/proxy$id.port")
    fi
    start "client$id" "$dir" "$bin/chunkex-client" --host 127.0.0.1 --port "$port" \
      --data-dir "$input" --out-dir "$dir/out" --log-dir "$dir/logs" "${window_flags[@]}"
    others+=("$STARTED")
    wait_for "grep -qs 'joined as client' '$dir/client$id.console'" "client $id to join"
  done
  head -n 1 /proc/stat > "$dir/cpu.start" # how busy the machine was, for the report
  local status=0
  wait "$server_pid" || status=$?
  for pid in "${others[@]}"; do wait "$pid" || status=$?; done
  head -n 1 /proc/stat > "$dir/cpu.end"
  if [ "$status" -ne 0 ]; then
    tail -n 20 "$dir"/*.console >&2
    echo "wan: run $name failed (status $status)" >&2
    exit 1
  fi
}

# logs_match NAME: "yes" if NAME's logs are byte-identical to the reference.
logs_match() {
  if logs_identical "$work/reference/logs" "$work/$1/logs"; then echo yes; else echo no; fi
}

# predicted_s WINDOW: chunkex-sim's wall time for this run's setting (the
# same files, one link per peer of delay_ms one way and rate_mbit each way).
predicted_s() {
  local window_flags=() dir="$work/sim-w$1"
  [ "$1" != default ] && window_flags=(--window "$1")
  rm -rf "$dir"
  "$bin/chunkex-sim" --chunks "$chunks" --seed 1 --latency-ms "$delay_ms" \
    --bandwidth "${rate_mbit}mbit" --log-dir "$dir" "${window_flags[@]}" > "$dir.console" 2>&1 ||
    { cat "$dir.console" >&2; echo "wan: chunkex-sim failed" >&2; exit 1; }
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["predicted_wall_seconds"])' \
    "$dir/summary.json"
}

runs="$work/runs.jsonl"
: > "$runs"
echo "== reference: loopback, no proxy, window 1, 4 x $chunks chunks"
run_exchange reference 1 no
python3 bench/wan_report.py run --dir "$work/reference" --name reference --window 1 \
  --proxied no --logs-identical yes --rate-mbit "$rate_mbit" --settled-s "$SETTLED_S" \
  --append "$runs"

echo "== WAN: one proxy per client, delay $delay_ms ms each way, $rate_mbit Mbit/s per direction"
for window in $windows; do
  run_exchange "w$window" "$window" yes
  python3 bench/wan_report.py run --dir "$work/w$window" --name "w$window" --window "$window" \
    --proxied yes --logs-identical "$(logs_match "w$window")" --rate-mbit "$rate_mbit" \
    --settled-s "$SETTLED_S" \
    --predicted-s "$(predicted_s "$window")" --append "$runs"
done

python3 bench/wan_report.py final --runs "$runs" --chunks "$chunks" --delay-ms "$delay_ms" \
  --rate-mbit "$rate_mbit" --buffer-bytes "$buffer_bytes" --output "$results/wan.json"
