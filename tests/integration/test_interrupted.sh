#!/usr/bin/env bash
# Ctrl-C / SIGTERM in the middle of the exchange (docs/DESIGN.md §1.2): the
# signalled program stops cleanly with 128+signal, the others are told why and
# exit 1, logs are flushed, nothing hangs, no half file gets a final name.
#  (1) SIGTERM to the server;  (2) SIGINT to client B.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDS=(A B C D)
DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH/term/out" "$SCRATCH/int/out"
CHUNK_BYTES=16384
CHUNKS=6000 # 18000 rounds: several seconds with --window 1
"$GEN_BIN" --data-dir "$DATA" --chunks $CHUNKS --chunk-bytes $CHUNK_BYTES --seed 21 >/dev/null
echo "{ \"chunk_bytes\": $CHUNK_BYTES }" >"$SCRATCH/config.json"

# start_running TAG: server and four clients, returns once chunks flow.
start_running() {
  local tag=$1 id
  SERVER_NAME=$tag-server start_server --config "$SCRATCH/config.json" \
    --log-dir "$SCRATCH/$tag/logs" --window 1
  for id in "${IDS[@]}"; do
    start_peer "$tag-$id" --data-dir "$DATA" --out-dir "$SCRATCH/$tag/out" \
      --log-dir "$SCRATCH/$tag/logs" --window 1
    wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
  done
  wait_for_text "$SERVER_OUT" "[server] exchange started" 15 "$SERVER_PID"
  deadline_in 10
  until [[ $(count_files "$SCRATCH/$tag/out" '*.part') -gt 0 ]]; do
    past_deadline && fail "$tag: no .part files within 10 s"
    sleep 0.05
  done
  sleep 0.5
  if ! pid_alive "$SERVER_PID" || grep -qF "exchange complete" "$SERVER_OUT"; then
    fail "$tag: the exchange was over too soon to be interrupted: make the workload bigger"
  fi
}

# check_no_bad_files TAG: final names only for verified, identical files.
check_no_bad_files() {
  local out=$SCRATCH/$1/out f name owner
  for f in "$out"/*; do
    name=${f##*/}
    case $name in
      [A-D]_[A-D]_complete.file.part | [A-D].progress) ;; # kept for a resume
      [A-D]_[A-D]_complete.file)
        owner=${name:2:1}
        assert_same_file "$DATA/$owner.file" "$f"
        ;;
      *) fail "unexpected file $f" ;;
    esac
  done
}

# ------------------------------------------------------------------ (1) ---
note "(1) SIGTERM to the server mid-exchange"
start_running term
kill -TERM "$SERVER_PID"
deadline_in 10
expect_exit term-server 143 "$(remaining_s)"
for id in "${IDS[@]}"; do
  expect_failure_exit "term-$id" "$(remaining_s)"
  assert_contains "$SCRATCH/term-$id.err" "server stopped"
  assert_contains "$SCRATCH/term/logs/Client$id.txt" "error:"
done
assert_contains "$SERVER_ERR" "terminated"
logs=$SCRATCH/term/logs
assert_contains "$logs/Server.txt" "error: server stopped: terminated (SIGTERM)"
grep -q "SEND_CHUNK" "$logs/Server.txt" || fail "Server.txt lost the rounds before the signal (not flushed?)"
assert_json "$logs/summary.json" success false
check_no_bad_files term

# ------------------------------------------------------------------ (2) ---
note "(2) SIGINT to client B mid-exchange"
start_running int
kill -INT "${PID_OF[int-B]}"
deadline_in 10
expect_exit int-B 130 "$(remaining_s)"
expect_failure_exit int-server "$(remaining_s)"
for id in A C D; do
  expect_failure_exit "int-$id" "$(remaining_s)"
  assert_contains "$SCRATCH/int-$id.err" "client B"
done
logs=$SCRATCH/int/logs
assert_contains "$logs/ClientB.txt" "error: stopped: interrupted"
grep -q "recv chunk" "$logs/ClientB.txt" || fail "ClientB.txt lost the rounds before the signal (not flushed?)"
grep -qF "client B" "$SERVER_OUT" "$SERVER_ERR" || fail "server console does not name client B$(_tail_hint int-server)"
assert_contains "$logs/Server.txt" "error: client B"
assert_json "$logs/summary.json" success false
check_no_bad_files int

note "all checks passed"
