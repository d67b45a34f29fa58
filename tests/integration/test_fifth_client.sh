#!/usr/bin/env bash
# A fifth peer connects while the exchange runs: it gets a clear "server full"
# error and exits; the four peers and the server carry on and succeed, and the
# rejection shows up once in Server.txt, near the end (docs/DESIGN.md §1.2).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDS=(A B C D)
DATA=$SCRATCH/data
LOGS=$SCRATCH/logs
OUT=$SCRATCH/out
remove_on_success "$DATA" "$OUT"

# Small on disk: 3000 rounds of 16 KiB chunks. Client D is held (SIGSTOP)
# while each extra client is turned away, so the exchange is still running
# then however fast or slow the machine is.
CHUNK_BYTES=16384
CHUNKS=1000
"$GEN_BIN" --data-dir "$DATA" --chunks $CHUNKS --chunk-bytes $CHUNK_BYTES --seed 5 >/dev/null
echo "{ \"chunk_bytes\": $CHUNK_BYTES }" >"$SCRATCH/config.json"

start_server --config "$SCRATCH/config.json" --log-dir "$LOGS" --window 1
for id in "${IDS[@]}"; do
  start_peer "client$id" --data-dir "$DATA" --out-dir "$OUT" --log-dir "$LOGS" --window 1
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done

# line_of FILE TEXT: number of the first line holding TEXT, or empty.
line_of() { grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1 || true; }

# reject_extra NAME: starts one more client; it must be turned away with
# "server full" while the exchange is still going on.
reject_extra() {
  local name=$1 rc
  # Its own directories: nothing of it may land among the four's files.
  start_peer "$name" --data-dir "$DATA" --out-dir "$SCRATCH/$name-out" \
    --log-dir "$SCRATCH/$name-logs" --window 1
  wait_pid_within "${PID_OF[$name]}" 10 || true
  rc=$WAIT_RC
  if grep -qF "cannot connect" "$SCRATCH/$name.err" || ! pid_alive "$SERVER_PID"; then
    fail "the exchange was already over when the $name client connected, so nothing was" \
      "tested: make the workload bigger$(_tail_hint "$name")$(_tail_hint server)"
  fi
  local completed_at
  completed_at=$(line_of "$SERVER_OUT" "[server] exchange complete")
  [[ -z $completed_at ]] ||
    fail "the exchange completed before the $name client was rejected: make the workload bigger"
  for id in "${IDS[@]}"; do
    pid_alive "${PID_OF[client$id]}" ||
      fail "client $id had already ended when the $name client was rejected$(_tail_hint "client$id")"
  done
  [[ $rc == 1 ]] || fail "$name client exited with $rc, expected 1$(_tail_hint "$name")"
  assert_contains "$SCRATCH/$name.err" "server full"
  assert_absent "$SCRATCH/$name-out" "a rejected client must not create received files"
}

# hold_d / release_d: client D stops reading and sending (well within the
# stall timeout), so the exchange cannot end meanwhile.
hold_d() { kill -STOP "${PID_OF[clientD]}"; }
release_d() { kill -CONT "${PID_OF[clientD]}"; }

# The fifth arrives right after D joined (the four are still announcing
# their files), the sixth while chunks are flowing.
hold_d
reject_extra fifth
release_d
[[ $(grep -cF "[server] rejected a connection: server full" "$SERVER_OUT") == 1 ]] ||
  fail "server console does not report the fifth client's rejection once$(_tail_hint server)"
wait_for_text "$SERVER_OUT" "[server] exchange started" 10 "$SERVER_PID"
deadline_in 10
until [[ $(count_files "$OUT" '*.part') -gt 0 ]]; do
  past_deadline && fail "no .part files appeared in $OUT within 10 s"
  sleep 0.05
done
hold_d
reject_extra sixth
release_d
[[ $(grep -cF "[server] rejected a connection: server full" "$SERVER_OUT") == 2 ]] ||
  fail "server console does not report two rejections$(_tail_hint server)"
note "fifth and sixth clients rejected while the exchange was running"

for id in "${IDS[@]}"; do expect_exit "client$id" 0 60; done
expect_exit server 0 15

# Everything the four did is intact.
assert_all_received "$DATA" "$OUT" "$LOGS"
[[ $(ls -A "$OUT" | wc -l) == 12 ]] || fail "$OUT holds more than the 12 received files: $(ls -A "$OUT")"
assert_json "$LOGS/summary.json" success true
assert_json "$LOGS/summary.json" rejected_connections 2
assert_contains "$SERVER_OUT" "connections rejected: 2"

# Server.txt: each rejection once, after the last round, final clocks last.
server_log=$LOGS/Server.txt
[[ $(grep -c "rejected connection" "$server_log") == 2 ]] ||
  fail "Server.txt does not list exactly two rejections: $(grep "rejected" "$server_log")"
last_round_line=$(grep -n "(round " "$server_log" | tail -n 1 | cut -d: -f1)
for n in 1 2; do
  rejection_line=$(line_of "$server_log" "rejected connection $n: server full")
  [[ -n $rejection_line ]] || fail "Server.txt lacks 'rejected connection $n: server full'"
  ((rejection_line > last_round_line)) ||
    fail "Server.txt: rejection $n (line $rejection_line) is not after the last round (line $last_round_line)"
done

size=$((CHUNKS * CHUNK_BYTES))
model=$(model_final "$size,$size,$size,$size" $CHUNK_BYTES "$DEFAULT_COSTS_US")
expected=$(model_clocks_text "$model")
server_clocks=$(final_clocks_of "$server_log")
[[ $server_clocks == "$expected" ]] || fail "Server.txt final clocks '$server_clocks', model '$expected'"
assert_json "$LOGS/summary.json" rounds "${model%% *}"
for id in "${IDS[@]}"; do
  [[ $(final_clocks_of "$LOGS/Client$id.txt") == "$server_clocks" ]] ||
    fail "Client$id.txt final clocks differ from Server.txt"
  assert_not_contains "$LOGS/Client$id.txt" "error:"
  [[ ! -s $SCRATCH/client$id.err ]] || fail "client $id wrote to stderr: $(head -n 3 "$SCRATCH/client$id.err")"
done
assert_not_contains "$server_log" "error:"

note "all checks passed (final clocks $server_clocks)"
