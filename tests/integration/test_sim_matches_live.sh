#!/usr/bin/env bash
# chunkex-sim writes the logs a live run writes, byte for byte: the same
# unequal files (a partial last chunk, an empty file, one chunk exactly)
# through real processes on loopback, through the simulator reading the files
# (--data-dir), and through the simulator drawing chunkex-gen's content from
# the seed without any file (--bytes). With --out-dir the simulator writes
# the received files, equal to the inputs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIM_BIN=$CHUNKEX_BUILD_DIR/chunkex-sim
[[ -x $SIM_BIN ]] || fail "$SIM_BIN not built"
SIZES=(300001 0 $CHUNK 5000)
SEED=9
DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes "${SIZES[@]}" --seed $SEED >/dev/null

# Live: server and four clients, started one after another (IDs A..D).
SERVER_NAME=live-server start_server --log-dir "$SCRATCH/live/logs" --window 4
start_four_peers live "$DATA" "$SCRATCH/live" --window 4
for id in A B C D; do expect_exit "live-$id" 0 60; done
expect_exit live-server 0 15

"$SIM_BIN" --data-dir "$DATA" --log-dir "$SCRATCH/sim-files/logs" \
  --out-dir "$SCRATCH/sim-files/out" >"$SCRATCH/sim-files.out" 2>&1 ||
  fail "chunkex-sim --data-dir failed: $(tail -n 5 "$SCRATCH/sim-files.out")"
"$SIM_BIN" --bytes "${SIZES[@]}" --seed $SEED --window 64 --latency-ms 3 --bandwidth 100mbit \
  --log-dir "$SCRATCH/sim-seed/logs" >"$SCRATCH/sim-seed.out" 2>&1 ||
  fail "chunkex-sim --bytes failed: $(tail -n 5 "$SCRATCH/sim-seed.out")"

for run in sim-files sim-seed; do
  for name in Server.txt ClientA.txt ClientB.txt ClientC.txt ClientD.txt; do
    assert_same_file "$SCRATCH/live/logs/$name" "$SCRATCH/$run/logs/$name"
  done
done
note "logs of the live run, chunkex-sim --data-dir and chunkex-sim --bytes --seed are identical"

# The simulator's received files are the inputs, under the live names.
for id in A B C D; do
  for owner in A B C D; do
    [[ $id == "$owner" ]] && continue
    assert_same_file "$DATA/$owner.file" "$SCRATCH/sim-files/out/${id}_${owner}_complete.file"
  done
done
assert_json "$SCRATCH/sim-seed/logs/summary.json" success true
grep -q '"predicted_wall_seconds"' "$SCRATCH/sim-seed/logs/summary.json" ||
  fail "summary.json of a run with a link model has no predicted wall time"
note "received files equal the inputs; summary.json predicts a wall time"
