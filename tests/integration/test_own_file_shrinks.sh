#!/usr/bin/env bash
# Issue 10, point 5: a peer whose own file shrinks mid-exchange says so in
# ERROR ("own file ... shrank from N to M bytes"), so the exchange ends
# everywhere at once with that message, instead of looking like a lost
# connection that holds everyone for the grace period.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH/out"
gen_equal_files "$DATA" 16384 4000 7
SIZE=$FILE_BYTES
# The grace period is long: the test fails if anyone waits it out.
echo '{ "chunk_bytes": 16384, "reconnect_grace_s": 60 }' >"$SCRATCH/config.json"

exchange_until_round ex "$SCRATCH" 200 "$DATA" "$SCRATCH/config.json" --window 1
truncate -s $((SIZE / 4)) "$DATA/C.file"
started=$SECONDS
deadline_in 10
for name in ex-A ex-B ex-C ex-D ex; do expect_failure_exit "$name" "$(remaining_s)"; done
why="own file $DATA/C.file shrank from $SIZE to $((SIZE / 4)) bytes during the exchange"
assert_contains "$SCRATCH/ex-C.err" "$why"
assert_contains "$SCRATCH/logs/Server.txt" "error: client C reported an error: $why"
for id in A B D; do assert_contains "$SCRATCH/ex-$id.err" "client C reported an error: $why"; done
assert_not_contains "$SCRATCH/ex-C.err" "lost the connection"
note "every process exited 1 within $((SECONDS - started)) s naming C's file"
