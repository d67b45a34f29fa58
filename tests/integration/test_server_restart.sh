#!/usr/bin/env bash
# The server dies (SIGKILL) mid-exchange (issue 4). Every client says so and
# exits 1, keeping its partial files and progress. The server, restarted on
# the same log directory, resumes the saved exchange; the clients, restarted
# in the opposite order, each with its own file and output directory (as on
# four laptops), get their old IDs back and finish from where they were.
# Every log equals the uninterrupted run's but for the resume lines.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
CHUNK_BYTES=16384
"$GEN_BIN" --data-dir "$DATA" --bytes $((1800 * CHUNK_BYTES)) $((1700 * CHUNK_BYTES + 9)) \
  $((1900 * CHUNK_BYTES)) $((1600 * CHUNK_BYTES)) --seed 41 >/dev/null
cat >"$SCRATCH/config.json" <<JSON
{ "chunk_bytes": $CHUNK_BYTES }
JSON
remove_on_success "$SCRATCH/ref/out" "$SCRATCH/run"

run_reference_exchange "$DATA" "$SCRATCH/config.json"

# start_laptop NAME ID: a client with its own file and its own directories.
start_laptop() {
  local name=$1 id=$2
  start_peer "$name" --file "$DATA/$id.file" --out-dir "$SCRATCH/run/out-$id" \
    --log-dir "$SCRATCH/run/logs-$id" --config "$SCRATCH/config.json" --window 8
}

LOGS=$SCRATCH/run/logs
SERVER_NAME=server1 start_server --config "$SCRATCH/config.json" --log-dir "$LOGS" --window 32
for id in A B C D; do
  start_laptop "run-$id" "$id"
  wait_for_text "$SERVER_OUT" "client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
KILL_ROUND=$((300 + RANDOM % 2000))
note "killing the server at round $KILL_ROUND"
wait_for_rounds "$LOGS/Server.txt" "$KILL_ROUND" 60
kill -KILL "$SERVER_PID"
expect_exit server1 137 5
for id in A B C D; do
  expect_failure_exit "run-$id" 10
  assert_contains "$SCRATCH/run-$id.err" "lost the connection to the server"
  assert_contains "$SCRATCH/run-$id.out" "partial files and progress are kept"
  assert_exists "$SCRATCH/run/out-$id/$id.progress"
done
assert_exists "$LOGS/exchange.state"

SERVER_NAME=server2 start_server --config "$SCRATCH/config.json" --log-dir "$LOGS" --window 32
wait_for_text "$SERVER_OUT" "resuming the exchange saved in" 10 "$SERVER_PID"
for id in D C B A; do
  start_laptop "again-$id" "$id"
  wait_for_text "$SCRATCH/again-$id.out" "coming back as client $id" 10 "$CLIENT_PID"
done
for id in A B C D; do expect_exit "again-$id" 0 60; done
expect_exit server2 0 10

for id in A B C D; do
  for peer in A B C D; do
    [[ $id == "$peer" ]] && continue
    assert_same_file "$DATA/$peer.file" "$SCRATCH/run/out-$id/${id}_${peer}_complete.file"
  done
  cp "$SCRATCH/run/logs-$id/Client$id.txt" "$LOGS/"
  assert_absent "$SCRATCH/run/out-$id/$id.progress"
done
assert_absent "$LOGS/exchange.state" "the saved exchange is removed once it is over"
assert_logs_equal_but_resume_lines "$SCRATCH/ref/logs" "$LOGS"
json_value "$LOGS/summary.json" refetched_bytes
note "server killed at round $KILL_ROUND; restarted; 4 clients came back with their IDs; $REPLY bytes sent again; 12 files verified; logs equal"
