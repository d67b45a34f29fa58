#!/usr/bin/env bash
# Loopback benchmark of the default exchange (issue targets: relay goodput vs
# iperf3, peak RSS per process). Builds Release, generates the workload,
# measures single-stream loopback TCP with iperf3 (5 s), runs the exchange,
# prints the figures and writes them to bench/results/latest.json.
#
#   bench/run.sh [--chunks K] [--window W] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."

chunks=3907
window=""
runs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --chunks) chunks="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

scripts/deps.sh iperf3 time python3
CHUNKEX_BUILD_DIR=build-release CHUNKEX_BUILD_TYPE=Release scripts/build.sh
bin=build-release
work=bench/data
results=bench/results
mkdir -p "$results"

source bench/lib.sh
ensure_workload "$work" "$chunks"

echo "== iperf3: loopback TCP, single stream, 5 s"
iperf3 -s -1 -p 5299 -B 127.0.0.1 >/dev/null 2>&1 &
pids+=("$!")
sleep 0.5
iperf3 -c 127.0.0.1 -p 5299 -t 5 -J > "$work/iperf3.json"
iperf_bps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/8)' "$work/iperf3.json")
echo "iperf3: $(python3 -c "print(f'{$iperf_bps/1e6:.1f}')") MB/s"

# The unavoidable work of an exchange, measured on this machine, to put the
# goodput in proportion: SHA-256 of every received byte (OpenSSL, as the
# clients do) and writing every received byte into the page cache.
echo "== floor: SHA-256 speed and page-cache write cost"
sha_bps=$(openssl speed -evp sha256 -bytes 131072 -seconds 2 2>/dev/null |
  awk '/^sha256/ {v=$2; sub(/k$/, "", v); print v * 1000}')
/usr/bin/time -f "%S %U" -o "$work/dd.time" \
  dd if=/dev/zero of="$work/dd.test" bs=128K count=8192 status=none
write_cpu_s_per_gib=$(awk '{print $1 + $2}' "$work/dd.time")
rm -f "$work/dd.test"
echo "sha256 $(python3 -c "print(f'{$sha_bps/1e6:.0f}')") MB/s, page-cache write ${write_cpu_s_per_gib} CPU s per GiB"

window_flags=()
[ -n "$window" ] && window_flags=(--window "$window")
for run in $(seq "$runs"); do
  echo "== exchange run $run: 4 x $chunks chunks"
  rm -rf "$work/out" "$work/logs" "$work/port"
  /usr/bin/time -f "%M %U %S" -o "$work/rss.server" "$bin/chunkex-server" --port 0 --port-file "$work/port" \
    --log-dir "$work/logs" "${window_flags[@]}" > "$work/server.console" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  client_pids=()
  for id in A B C D; do
    /usr/bin/time -f "%M %U %S" -o "$work/rss.$id" "$bin/chunkex-client" --port "$(cat "$work/port")" \
      --data-dir "$work/input" --out-dir "$work/out" --log-dir "$work/logs" "${window_flags[@]}" \
      > "$work/client$id.console" 2>&1 &
    client_pids+=("$!")
    pids+=("$!")
    for _ in $(seq 100); do grep -qs "joined as client" "$work/client$id.console" && break; sleep 0.05; done
  done
  status=0
  wait "$server_pid" || status=$?
  for pid in "${client_pids[@]}"; do wait "$pid" || status=$?; done
  [ "$status" -eq 0 ] || { cat "$work/server.console"; echo "bench: exchange failed" >&2; exit 1; }
  tail -n 6 "$work/server.console"
  python3 bench/report.py --summary "$work/logs/summary.json" --iperf-bps "$iperf_bps" \
    --iperf-json "$work/iperf3.json" --sha-bps "$sha_bps" --write-cpu-per-gib "$write_cpu_s_per_gib" \
    --rss-dir "$work" --chunks "$chunks" --window "${window:-default}" \
    --output "$results/latest.json"
done
