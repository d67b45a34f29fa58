#!/usr/bin/env bash
# The whole exchange on this machine in one command: installs what is missing,
# builds, generates the input files (seeded), starts the server and four
# clients on 127.0.0.1, shows progress and prints the summary; ends by writing
# the run report (logs/report.html) and printing its path.
#
#   scripts/run-local.sh [--chunks K] [--window W] [--seed S] [--config FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

chunks=3907
seed=1
window=""
config=""
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --chunks) chunks="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-local: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

scripts/deps.sh
echo "== building (Release)"
CHUNKEX_TARGETS="chunkex-server chunkex-client chunkex-gen chunkex-report" scripts/build.sh

data_dir=data
stamp="chunks=$chunks seed=$seed"
if [ "$(cat "$data_dir/.workload" 2>/dev/null)" != "$stamp" ]; then
  echo "== generating 4 files of $chunks chunks (seed $seed) in $data_dir/"
  build/chunkex-gen --data-dir "$data_dir" --chunks "$chunks" --seed "$seed"
  echo "$stamp" > "$data_dir/.workload"
fi

log_dir=logs
out_dir=out
run_dir=$(mktemp -d)
rm -rf "$out_dir"
rm -f "$log_dir"/*.txt "$log_dir"/summary.json "$log_dir"/report.html
mkdir -p "$log_dir"

common_flags=(--log-dir "$log_dir")
[ -n "$config" ] && common_flags+=(--config "$config")
[ -n "$window" ] && common_flags+=(--window "$window")

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$run_dir"
}
trap cleanup EXIT

echo "== starting the server and 4 clients"
# A fresh exchange: out/ was just emptied, so nothing saved could resume.
build/chunkex-server --fresh --port 0 --port-file "$run_dir/port" "${common_flags[@]}" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do [ -s "$run_dir/port" ] && break; sleep 0.1; done
[ -s "$run_dir/port" ] || { echo "run-local: the server did not start" >&2; exit 1; }
port=$(cat "$run_dir/port")

for id in A B C D; do
  build/chunkex-client --port "$port" --data-dir "$data_dir" --out-dir "$out_dir" \
    "${common_flags[@]}" > "$log_dir/client$id.console" 2>&1 &
  pids+=("$!")
  # IDs follow connection order; starting one at a time makes client N use file N.
  for _ in $(seq 50); do grep -qs "joined as client" "$log_dir/client$id.console" && break; sleep 0.1; done
done

status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
pids=()

echo "== clients"
for id in A B C D; do tail -n 1 "$log_dir/client$id.console"; done
echo "== logs in $log_dir/, received files in $out_dir/"
if [ "$status" -ne 0 ]; then
  echo "run-local: the exchange failed (see $log_dir/*.console and $log_dir/Server.txt)" >&2
fi
if build/chunkex-report "$log_dir" -o "$log_dir/report.html" > /dev/null; then
  echo "== report: $log_dir/report.html"
else
  echo "run-local: could not write the report of $log_dir" >&2
fi
exit "$status"
