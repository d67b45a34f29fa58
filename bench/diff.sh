#!/usr/bin/env bash
# Benchmark of chunkex-diff and of the run report (issue targets: two
# default-workload log sets compared in at most 1 s; the report opens in
# under 2 s). Builds Release, runs the default workload twice (the default
# costs, then C's chunk cost 10 ms instead of 8) in chunkex-sim, whose logs
# are those of a live run byte for byte (--live: real processes on loopback,
# 2 GB of input files), and times
# chunkex-diff on the two log sets against floors on the same files: reading
# them (cat), comparing them byte for byte (cmp of a log set with a copy of
# itself, which reads every byte of both) and GNU diff. Then writes the report
# of both runs and, when chromium is installed, opens it headless: the time
# from navigation to the diagrams drawn, as the page measures it. Prints the
# figures (median of --repeat runs) and writes bench/results/diff.json.
#
#   bench/diff.sh [--chunks K] [--repeat N] [--live]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

chunks=3907
repeat=5
live=0
parse_options "$0" "chunks repeat live!" "$@"

scripts/deps.sh python3
bin=${CHUNKEX_BUILD_DIR:-build}
CHUNKEX_BUILD_DIR=$bin CHUNKEX_BUILD_TYPE=Release \
  CHUNKEX_TARGETS="chunkex-server chunkex-client chunkex-gen chunkex-sim chunkex-diff chunkex-report" \
  scripts/build.sh
work=bench/data
runs=$work/diff-$chunks
results=bench/results
mkdir -p "$results" "$runs"

stamp="chunks=$chunks seed=1"
if [ "$live" = 1 ]; then ensure_workload "$work" "$chunks"; fi

# run_exchange NAME CONFIG: the exchange in chunkex-sim (or live), logs in
# $runs/NAME/logs (kept between benchmark runs: the logs depend only on the
# inputs and the config, and are the same either way).
run_exchange() {
  local name=$1 config=$2 dir=$runs/$1 id
  [ -s "$dir/logs/Server.txt" ] && [ "$(cat "$dir/.done" 2>/dev/null)" = "$stamp" ] && return 0
  echo "== exchange '$name': 4 x $chunks chunks ($([ "$live" = 1 ] && echo live || echo chunkex-sim))"
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$live" = 0 ]; then
    "$bin/chunkex-sim" --config "$config" --chunks "$chunks" --seed 1 --log-dir "$dir/logs" \
      > "$dir/sim.console"
    echo "$stamp" > "$dir/.done"
    return 0
  fi
  live_exchange "$dir" "$work/input" --config "$config"
  echo "$stamp" > "$dir/.done"
}

python3 - "$runs/c10.json" <<'EOF'
import json, sys
config = json.load(open("configs/default.json"))
config["costs_ms"]["C"]["chunk"] = 10
json.dump(config, open(sys.argv[1], "w"), indent=2)
EOF
run_exchange default configs/default.json
run_exchange c10 "$runs/c10.json"
left=$runs/default/logs
right=$runs/c10/logs
rm -rf "$runs/copy"
cp -r "$left" "$runs/copy"

# seconds COMMAND...: the median wall time of $repeat runs, in seconds.
seconds() {
  local times=() i start
  for ((i = 0; i < repeat; i++)); do
    start=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 || true
    times+=("$(python3 -c "print($EPOCHREALTIME - $start)")")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{ t[NR] = $1 } END { printf "%.3f", t[int((NR + 1) / 2)] }'
}
cat_logs() { cat "$left"/*.txt "$right"/*.txt >/dev/null; }
cmp_logs() { local f; for f in "$left"/*.txt; do cmp -s "$f" "$runs/copy/${f##*/}"; done; }
gnu_diff() { diff -r "$left" "$right" >/dev/null; }

bytes=$(cat "$left"/*.txt "$right"/*.txt | wc -c)
rounds=$(grep -o 'exchange complete after [0-9]* rounds' "$left/Server.txt" | grep -o '[0-9][0-9]*')
echo "== timing ($repeat runs each, median): $((bytes / 1000000)) MB of logs, two runs"
t_cat=$(seconds cat_logs)
t_cmp=$(seconds cmp_logs)
t_gnu=$(seconds timeout 60 bash -c "diff -r '$left' '$right'")
t_same=$(seconds "$bin/chunkex-diff" "$left" "$runs/copy")
t_diff=$(seconds "$bin/chunkex-diff" "$left" "$right")
t_json=$(seconds "$bin/chunkex-diff" --json "$left" "$right")
t_ignore=$(seconds "$bin/chunkex-diff" --ignore 'disconnected|reconnected|resumed|restarted' "$left" "$right")
status=0
"$bin/chunkex-diff" "$left" "$right" > "$runs/diff.txt" || status=$?
[ "$status" = 1 ] || { echo "bench/diff: chunkex-diff exited $status on two different runs" >&2; exit 1; }

verdict=$(python3 -c "print('within' if $t_diff <= 1.0 else 'OVER')")
cat <<EOF
read both log sets (cat)                 $t_cat s
cmp, a log set against a copy of itself  $t_cmp s
GNU diff -r of the two log sets          $t_gnu s
chunkex-diff, identical runs             $t_same s
chunkex-diff, runs that differ           $t_diff s   ($verdict the 1 s target)
chunkex-diff --json                      $t_json s
chunkex-diff --ignore REGEX              $t_ignore s
EOF
head -n 3 "$runs/diff.txt"

echo "== the report of both runs"
t_report=$(seconds "$bin/chunkex-report" "$left" "$right" -o "$runs/report.html")
page_bytes=$(wc -c <"$runs/report.html")
ready_ms=null
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chromium" ]; then
  readies=()
  for _ in $(seq "$repeat"); do
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
      --user-data-dir="$runs/chromium-profile" --dump-dom "file://$PWD/$runs/report.html" \
      2>/dev/null >"$runs/report.dom" || true
    readies+=("$(grep -o 'data-ready-ms="[0-9]*"' "$runs/report.dom" | cut -d'"' -f2)")
  done
  ready_ms=$(printf '%s\n' "${readies[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')
  grep -q 'data-status="ok"' "$runs/report.dom" || { echo "bench/diff: the report did not draw" >&2; exit 1; }
fi
ready_text="$ready_ms ms"
[ "$ready_ms" = null ] && ready_text="not measured: no chromium"
echo "chunkex-report of both runs              $t_report s  ($((page_bytes / 1000)) kB page)"
echo "page ready (navigation to drawn)         $ready_text"
python3 - "$results/diff.json" <<EOF
import json, sys
json.dump({"chunks": $chunks, "log_bytes": $bytes, "rounds": $rounds, "repeat": $repeat,
           "seconds": {"cat": $t_cat, "cmp_self_copy": $t_cmp, "gnu_diff": $t_gnu,
                       "chunkex_diff_identical": $t_same, "chunkex_diff": $t_diff,
                       "chunkex_diff_json": $t_json, "chunkex_diff_ignore": $t_ignore,
                       "chunkex_report": $t_report},
           "report_page_bytes": $page_bytes, "report_ready_ms": $ready_ms,
           "target_seconds": {"chunkex_diff": 1.0, "report_ready": 2.0}},
          open(sys.argv[1], "w"), indent=2)
EOF
echo "written to $results/diff.json"
