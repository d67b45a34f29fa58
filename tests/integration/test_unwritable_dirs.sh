#!/usr/bin/env bash
# Issue 10, point 4: a client whose out or log directory cannot be written is
# found out before it connects: a clear message, exit 1, and the server and
# the other peers never notice. (A plain file stands where the directory
# should be, so this holds for root too.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 30000 20000 10000 5000 --seed 5 >/dev/null
echo "not a directory" >"$SCRATCH/blocker"
start_server --log-dir "$SCRATCH/logs"

for kind in out log; do
  out=$SCRATCH/out log=$SCRATCH/logs
  [[ $kind == out ]] && out=$SCRATCH/blocker/out
  [[ $kind == log ]] && log=$SCRATCH/blocker/logs
  start_peer "bad-$kind" --data-dir "$DATA" --out-dir "$out" --log-dir "$log"
  expect_failure_exit "bad-$kind" 5
  assert_contains "$SCRATCH/bad-$kind.err" "directory $SCRATCH/blocker/${kind/log/logs} cannot be written"
  assert_contains "$SCRATCH/bad-$kind.err" "nothing was sent to the server"
  assert_not_contains "$SCRATCH/bad-$kind.out" "connected to"
done
assert_not_contains "$SERVER_OUT" "joined"
note "both bad clients stopped before connecting"

for id in A B C D; do
  start_peer "peer-$id" --data-dir "$DATA" --out-dir "$SCRATCH/out" --log-dir "$SCRATCH/logs"
  wait_for_text "$SERVER_OUT" "client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
for id in A B C D; do expect_exit "peer-$id" 0 20; done
expect_exit server 0 10
assert_all_received "$DATA" "$SCRATCH/out"
note "the healthy peers then exchanged as usual"
