#!/usr/bin/env bash
# A client killed with SIGKILL at a random round comes back (issue 4): the
# server pauses the exchange and logs it, the others wait, the restarted
# client gets its old ID back, keeps every chunk it had written, catches up
# on the rounds that were in flight, and the exchange completes with all 12
# files verified. Every log equals the uninterrupted run's once the lines
# recording the disconnect and the reconnect are removed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
CHUNK_BYTES=16384
# Unequal files (some rounds have idle requests), about 7000 rounds.
"$GEN_BIN" --data-dir "$DATA" --bytes $((2400 * CHUNK_BYTES)) $((2300 * CHUNK_BYTES + 77)) \
  $((2000 * CHUNK_BYTES)) $((1500 * CHUNK_BYTES + 5)) --seed 21 >/dev/null
cat >"$SCRATCH/config.json" <<JSON
{ "chunk_bytes": $CHUNK_BYTES, "reconnect_grace_s": 30 }
JSON
remove_on_success "$SCRATCH/ref/out" "$SCRATCH/run/out"

# Reference: no fault.
run_reference_exchange "$DATA" "$SCRATCH/config.json"

# The same exchange; client C dies at a random round between 500 and 3000.
KILL_ROUND=$((500 + RANDOM % 2500))
note "killing client C at round $KILL_ROUND"
SERVER_NAME=run-server start_server --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run/logs" \
  --window 64
start_four_peers run "$DATA" "$SCRATCH/run" --config "$SCRATCH/config.json" --window 8
wait_for_text "$SCRATCH/run/logs/Server.txt" "(round $KILL_ROUND)" 60 "$SERVER_PID"
kill -KILL "${PID_OF[run-C]}"
expect_exit run-C 137 5
wait_for_text "$SERVER_OUT" "client C disconnected: exchange paused" 10 "$SERVER_PID"
for id in A B D; do
  wait_for_text "$SCRATCH/run-$id.out" "client C lost its connection" 10 "${PID_OF[run-$id]}"
done
assert_exists "$SCRATCH/run/out/C.progress" "C's saved progress"
parts_before=$(count_files "$SCRATCH/run/out" 'C_*.part')

# Restarted on the same file and directories (IDs by connection order would
# make it A: it must be C again).
start_peer run-C2 --data-dir "$DATA" --out-dir "$SCRATCH/run/out" --log-dir "$SCRATCH/run/logs" \
  --config "$SCRATCH/config.json" --window 8
wait_for_text "$SCRATCH/run-C2.out" "coming back as client C" 10 "$CLIENT_PID"
for name in run-A run-B run-D run-C2; do expect_exit "$name" 0 60; done
expect_exit run-server 0 10

assert_all_received "$DATA" "$SCRATCH/run/out" "$SCRATCH/run/logs"
assert_logs_equal_but_resume_lines "$SCRATCH/ref/logs" "$SCRATCH/run/logs"
assert_contains "$SCRATCH/run/logs/Server.txt" "client C disconnected: exchange paused"
assert_contains "$SCRATCH/run/logs/Server.txt" "client C reconnected: it has completed"
assert_contains "$SCRATCH/run/logs/ClientC.txt" "resumed after round"
assert_absent "$SCRATCH/run/out/C.progress" "progress is removed once the exchange is over"
assert_json "$SCRATCH/run/logs/summary.json" reconnects 1
json_value "$SCRATCH/run/logs/summary.json" refetched_bytes
refetched=$REPLY
# Only rounds in flight are sent again: at most the client's window plus the
# rounds the server had forwarded ahead, one chunk each.
((refetched <= (8 + 64) * CHUNK_BYTES)) || fail "$refetched bytes sent again, more than the rounds in flight"
note "killed at round $KILL_ROUND with $parts_before .part files; $refetched bytes sent again; 12 files verified; logs equal"
