#!/usr/bin/env bash
# A server frozen (SIGSTOP, a suspended machine) for longer than
# idle_timeout_s but less than the clients' 2 x idle_timeout_s used to wake up
# and blame every client for the stall it caused itself ("client A, B, C, D
# stalled the exchange"). A late deadline now means the process itself was
# not running: the frames that came meanwhile are read first, and the
# exchange goes on.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH/out"
gen_equal_files "$DATA" 16384 3000 9
echo '{ "chunk_bytes": 16384, "idle_timeout_s": 3 }' >"$SCRATCH/config.json"

exchange_until_round ex "$SCRATCH" 100 "$DATA" "$SCRATCH/config.json" --window 1
kill -STOP "$SERVER_PID"
sleep 4.5
kill -CONT "$SERVER_PID"
started=$SECONDS
for id in A B C D; do expect_exit "ex-$id" 0 30; done
expect_exit ex 0 10
assert_all_received "$DATA" "$SCRATCH/out"
assert_not_contains "$SCRATCH/logs/Server.txt" "stalled"
note "frozen 4.5 s with idle_timeout_s 3: the exchange went on and completed $((SECONDS - started)) s later"
