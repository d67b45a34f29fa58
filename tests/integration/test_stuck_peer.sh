#!/usr/bin/env bash
# A peer that freezes mid-exchange (SIGSTOP: connected, but neither reading
# nor writing) is taken for dead after idle_timeout_s: the server names it,
# tells the others, and every process exits non-zero instead of waiting
# forever.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDS=(A B C D)
DATA=$SCRATCH/data
LOGS=$SCRATCH/logs
OUT=$SCRATCH/out
remove_on_success "$DATA" "$OUT"

CHUNK_BYTES=16384
BIG=$((6000 * CHUNK_BYTES))
"$GEN_BIN" --data-dir "$DATA" --bytes $BIG $BIG $BIG $BIG --seed 11 >/dev/null
echo "{ \"chunk_bytes\": $CHUNK_BYTES, \"idle_timeout_s\": 2 }" >"$SCRATCH/config.json"

start_server --config "$SCRATCH/config.json" --log-dir "$LOGS" --window 1
for id in "${IDS[@]}"; do
  start_peer "client$id" --config "$SCRATCH/config.json" --data-dir "$DATA" --out-dir "$OUT" \
    --log-dir "$LOGS" --window 1
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
wait_for_text "$SERVER_OUT" "[server] exchange started" 15 "$SERVER_PID"
sleep 1
grep -qF "exchange complete" "$SERVER_OUT" && fail "the exchange was over before C could freeze"

kill -STOP "${PID_OF[clientC]}"
deadline_in 12
for name in server clientA clientB clientD; do
  expect_failure_exit "$name" "$(remaining_s)"
done
kill -CONT "${PID_OF[clientC]}"
expect_failure_exit clientC 10
note "server and clients A, B, D gave up on the frozen C and exited 1"

assert_contains "$LOGS/Server.txt" "error: client C stalled the exchange"
for id in A B D; do
  assert_contains "$SCRATCH/client$id.err" "client C stalled the exchange"
done
for file in "$OUT"/*_complete.file; do
  [[ -e $file ]] || continue
  name=${file##*/}
  assert_same_file "$DATA/${name:2:1}.file" "$file"
done
