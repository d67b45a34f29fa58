#!/usr/bin/env bash
# Simulator benchmark: the default workload (4 x 3907 chunks of chunkex-gen's
# seed-1 content) run live (server + 4 clients on loopback) and with
# chunkex-sim --chunks 3907 --seed 1, alternately, N times each; the sim's
# logs must equal the live run's byte for byte. Reports the wall-time medians
# and their ratio (target: sim <= 0.1 x live), the simulator's own split
# (content+hashing, exchange, log writing), and 26 peers x 200 chunks.
# Writes bench/results/sim.json.
#
#   bench/sim.sh [--runs N] [--chunks K]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

runs=3
chunks=3907
parse_options "$0" "runs chunks" "$@"

scripts/deps.sh python3
CHUNKEX_BUILD_DIR=build-release CHUNKEX_BUILD_TYPE=Release \
  CHUNKEX_TARGETS="chunkex-server chunkex-client chunkex-gen chunkex-sim" scripts/build.sh
bin=build-release
work=bench/data/sim
results=bench/results
mkdir -p "$work" "$results"

ensure_workload bench/data "$chunks"

# live_run DIR: the whole live exchange (bench/lib.sh); prints its wall seconds.
live_run() {
  live_exchange "$1" bench/data/input
  echo "$WALL_S"
}

# sim_run DIR ARGS...: chunkex-sim; prints its wall seconds.
sim_run() {
  local dir=$1 start end
  shift
  rm -rf "$dir"
  start=$(now)
  "$bin/chunkex-sim" --log-dir "$dir" "$@" > "$dir.console" 2>&1 ||
    { cat "$dir.console" >&2; echo "bench/sim: chunkex-sim failed" >&2; exit 1; }
  end=$(now)
  python3 -c "print($end - $start)"
}

live_times=()
sim_times=()
for run in $(seq "$runs"); do
  live_times+=("$(live_run "$work/live")")
  sim_times+=("$(sim_run "$work/sim-logs" --chunks "$chunks" --seed 1)")
  for name in Server.txt ClientA.txt ClientB.txt ClientC.txt ClientD.txt; do
    cmp -s "$work/live/logs/$name" "$work/sim-logs/$name" ||
      { echo "bench/sim: $name of chunkex-sim differs from the live run's" >&2; exit 1; }
  done
  echo "run $run: live ${live_times[-1]} s, sim ${sim_times[-1]} s (logs identical)"
done
cp "$work/sim-logs/summary.json" "$work/sim-summary.json"

many=$(sim_run "$work/sim-26" --config configs/26-peers.json --chunks 200 --seed 1)
echo "26 peers x 200 chunks: sim $many s"

python3 - "$results/sim.json" "$chunks" "$many" "$work/sim-summary.json" "$work/sim-26/summary.json" \
  "${live_times[*]}" "${sim_times[*]}" <<'PY'
import json, statistics, sys
out, chunks, many, split_path, many_path, live, sim = sys.argv[1:8]
live = [float(x) for x in live.split()]
sim = [float(x) for x in sim.split()]
split = json.load(open(split_path))["simulator_seconds"]
many_split = json.load(open(many_path))["simulator_seconds"]
result = {
    "workload": f"4 x {chunks} chunks, seed 1",
    "live_wall_s": {"min": min(live), "median": statistics.median(live), "max": max(live)},
    "sim_wall_s": {"min": min(sim), "median": statistics.median(sim), "max": max(sim)},
    "ratio_sim_over_live": statistics.median(sim) / statistics.median(live),
    "sim_split_s_last_run": split,
    "peers_26_x_200_chunks": {"wall_s": float(many), "split_s": many_split},
}
json.dump(result, open(out, "w"), indent=2)
print(f"live  min/median/max {min(live):.2f} / {statistics.median(live):.2f} / {max(live):.2f} s")
print(f"sim   min/median/max {min(sim):.2f} / {statistics.median(sim):.2f} / {max(sim):.2f} s")
print(f"ratio sim / live (medians): {result['ratio_sim_over_live']:.3f}  (target <= 0.1)")
print("sim split (last run): " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()))
print(f"26 peers x 200 chunks: {float(many):.2f} s; split " +
      ", ".join(f"{k} {v:.2f} s" for k, v in many_split.items()))
print(f"written to {out}")
PY
