#!/usr/bin/env bash
# Issue 10, point 7: a client stopped with SIGSTOP past idle_timeout_s while
# the server has a lot of output queued for it (a wide window, big chunks) is
# named as the one stalling the exchange, every time. The socket's
# write-stall limit (2 x idle_timeout_s) is longer than the server's stall
# limit, so it can never take the frozen peer for disconnected and hold
# everyone for the grace period. Three stops in a row.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH"/run*/out
CHUNK_BYTES=131072
SIZE=$((250 * CHUNK_BYTES))
"$GEN_BIN" --data-dir "$DATA" --bytes $SIZE $SIZE $SIZE $SIZE --seed 3 >/dev/null
echo "{ \"chunk_bytes\": $CHUNK_BYTES, \"idle_timeout_s\": 2, \"reconnect_grace_s\": 30 }" \
  >"$SCRATCH/config.json"

for run in 1 2 3; do
  SERVER_NAME=server$run start_server --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run$run/logs"
  start_four_peers "run$run" "$DATA" "$SCRATCH/run$run" --config "$SCRATCH/config.json" --window 128
  wait_for_rounds "$SCRATCH/run$run/logs/Server.txt" 30 20
  kill -STOP "${PID_OF[run$run-C]}"
  started=$SECONDS
  deadline_in 10
  for name in "server$run" "run$run-A" "run$run-B" "run$run-D"; do
    expect_failure_exit "$name" "$(remaining_s)"
  done
  kill -CONT "${PID_OF[run$run-C]}"
  expect_failure_exit "run$run-C" 10
  assert_contains "$SCRATCH/run$run/logs/Server.txt" "error: client C stalled the exchange"
  assert_not_contains "$SCRATCH/run$run/logs/Server.txt" "client C disconnected"
  note "run $run: C named as stalling; the others exited within $((SECONDS - started)) s"
done
