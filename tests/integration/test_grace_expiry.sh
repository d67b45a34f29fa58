#!/usr/bin/env bash
# A client dies and does not come back within the grace period (issue 4):
# the exchange ends with a message that names it, on the server and on every
# other client, everyone exits 1, and no partial file takes a final name.
# Their progress stays saved beside the partial files.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
CHUNK_BYTES=16384
"$GEN_BIN" --data-dir "$DATA" --chunks 2000 --chunk-bytes $CHUNK_BYTES --seed 31 >/dev/null
cat >"$SCRATCH/config.json" <<JSON
{ "chunk_bytes": $CHUNK_BYTES, "reconnect_grace_s": 2 }
JSON
remove_on_success "$SCRATCH/run/out"

start_server --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run/logs"
start_four_peers run "$DATA" "$SCRATCH/run" --config "$SCRATCH/config.json" --window 4
wait_for_rounds "$SCRATCH/run/logs/Server.txt" 300 60
kill -KILL "${PID_OF[run-B]}"
expect_exit run-B 137 5
wait_for_text "$SERVER_OUT" "client B disconnected: exchange paused; waiting up to 2 s" 10 "$SERVER_PID"

# Two seconds of grace, then everyone gives up, within a few seconds more.
for name in server run-A run-C run-D; do expect_failure_exit "$name" 10; done
why="client B did not come back within 2 s"
assert_contains "$SERVER_ERR" "$why"
assert_contains "$SCRATCH/run/logs/Server.txt" "error: $why"
assert_json "$SCRATCH/run/logs/summary.json" success false
for id in A C D; do
  assert_contains "$SCRATCH/run-$id.err" "$why"
  assert_contains "$SCRATCH/run-$id.out" "partial files and progress are kept"
  assert_exists "$SCRATCH/run/out/$id.progress"
  for peer in A B C D; do
    [[ $peer == "$id" ]] && continue
    assert_exists "$SCRATCH/run/out/${id}_${peer}_complete.file.part"
    assert_absent "$SCRATCH/run/out/${id}_${peer}_complete.file"
  done
done
assert_exists "$SCRATCH/run/logs/exchange.state" "the server keeps the exchange for a restart"
note "grace period of 2 s expired; server and 3 clients exited 1; 9 partial files kept as .part"
