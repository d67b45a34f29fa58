#!/usr/bin/env bash
# Bad input of every kind gets a clear error and breaks nothing:
#  (a) a peer whose own file is missing or unreadable,
#  (b) invalid configurations (docs/DESIGN.md §9),
#  (c) garbage and malformed frames on a raw TCP connection (docs/DESIGN.md §5),
#  (d) a client with nothing to connect to; a server stopped by a signal.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDS=(A B C D)
DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 1000 200000 0 300000 --seed 3 >/dev/null

# check_exchange_succeeded LOGS OUT: the four finished and verified everything.
check_exchange_succeeded() {
  local logs=$1 out=$2 id
  assert_json "$logs/summary.json" success true
  assert_all_received "$DATA" "$out" "$logs"
  local clocks
  clocks=$(final_clocks_of "$logs/Server.txt")
  for id in "${IDS[@]}"; do
    [[ $(final_clocks_of "$logs/Client$id.txt") == "$clocks" ]] ||
      fail "Client$id.txt final clocks differ from Server.txt"
  done
}

# ---------------------------------------------------------------- (a) ---
# A, B, C join; then two would-be D's fail on their own file. The failure is
# reported and logged, and costs them the slot only: the server frees it
# (before the exchange nothing depends on a peer), the three others keep
# waiting, and a good D then completes the exchange.
note "(a) peer with a missing or unreadable own file"
SERVER_NAME=a-server start_server --log-dir "$SCRATCH/a/logs"
for id in A B C; do
  start_peer "a-$id" --data-dir "$DATA" --out-dir "$SCRATCH/a/out" --log-dir "$SCRATCH/a/logs"
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done

missing=$SCRATCH/no-such-dir/D.file
start_peer a-missing --file "$missing" --out-dir "$SCRATCH/a/out-missing" \
  --log-dir "$SCRATCH/a/logs-missing"
expect_exit a-missing 1 10
assert_contains "$SCRATCH/a-missing.err" "$missing"
assert_contains "$SCRATCH/a-missing.err" "error:"
assert_contains "$SCRATCH/a/logs-missing/ClientD.txt" "error: cannot open own file $missing"
wait_for_text "$SERVER_OUT" "slot D is free" 10 "$SERVER_PID"

start_peer a-directory --file "$SCRATCH" --out-dir "$SCRATCH/a/out-directory" \
  --log-dir "$SCRATCH/a/logs-directory"
expect_exit a-directory 1 10
assert_contains "$SCRATCH/a-directory.err" "$SCRATCH"
assert_contains "$SCRATCH/a-directory.err" "not a regular file"
[[ $(grep -c "slot D is free" "$SERVER_OUT") == 2 ]] || fail "the second bad D did not free its slot"

pid_alive "$SERVER_PID" || fail "server ended after a peer's file error$(_tail_hint a-server)"
for id in A B C; do
  pid_alive "${PID_OF[a-$id]}" || fail "client $id ended after another peer's file error$(_tail_hint "a-$id")"
done
for dir in out-missing out-directory; do
  [[ ! -e $SCRATCH/a/$dir ]] || [[ -z $(ls -A "$SCRATCH/a/$dir") ]] ||
    fail "a client that never started the exchange left files in $dir"
done

start_peer a-D --data-dir "$DATA" --out-dir "$SCRATCH/a/out" --log-dir "$SCRATCH/a/logs"
wait_for_text "$SERVER_OUT" "[server] client D joined" 10 "$SERVER_PID" "$CLIENT_PID"
for id in "${IDS[@]}"; do expect_exit "a-$id" 0 30; done
expect_exit a-server 0 15
check_exchange_succeeded "$SCRATCH/a/logs" "$SCRATCH/a/out"

# ---------------------------------------------------------------- (b) ---
note "(b) invalid configurations"
COSTS_OK='"A": {"chunk": 6, "other": 0.6}, "B": {"chunk": 7, "other": 0.7}, "C": {"chunk": 8, "other": 0.8}'
n=0
# bad_config EXPECTED_TEXT JSON: chunkex-server refuses it with exit 1 before
# listening or creating anything, and says EXPECTED_TEXT (the key) on stderr.
bad_config() {
  local expected=$1 json=$2 name
  n=$((n + 1))
  name=config$n
  printf '%s\n' "$json" >"$SCRATCH/$name.json"
  start_bg "$name" "$SERVER_BIN" --config "$SCRATCH/$name.json" --host 127.0.0.1 --port 0 \
    --log-dir "$SCRATCH/$name-logs"
  expect_exit "$name" 1 10
  assert_not_contains "$SCRATCH/$name.out" "listening on"
  assert_contains "$SCRATCH/$name.err" "$expected"
  assert_absent "$SCRATCH/$name-logs" "an invalid config must stop the server before it starts"
}
bad_config "'bogus_key'" '{"bogus_key": 1}'
bad_config "'costs_ms.B.chunk'" "{\"costs_ms\": {$COSTS_OK, \"D\": {\"chunk\": 9, \"other\": 0.9}, \"B\": {\"chunk\": -7, \"other\": 0.7}}}"
assert_contains "$SCRATCH/config$n.err" "negative"
bad_config "'chunk_bytes'" '{"chunk_bytes": 0}'
bad_config "'port'" '{"port": 70000}'
bad_config "not valid JSON" '{"port": 9999,'
assert_contains "$SCRATCH/config$n.err" "$SCRATCH/config$n.json"
bad_config "'costs_ms.D.other'" "{\"costs_ms\": {$COSTS_OK, \"D\": {\"chunk\": 9, \"other\": -0.5}}}"
bad_config "'costs_ms.A.extra'" '{"costs_ms": {"A": {"chunk": 6, "other": 0.6, "extra": 1}}}'
bad_config "'max_clients'" '{"max_clients": 1}'
bad_config "'window'" '{"window": 0}'
bad_config "'host'" '{"host": 42}'
bad_config "'chunk_bytes'" '{"chunk_bytes": "big"}'

# The client validates the same way, before connecting anywhere.
printf '%s\n' '{"chunk_bytes": 0}' >"$SCRATCH/client-bad.json"
start_client client-badconfig --config "$SCRATCH/client-bad.json" --host 127.0.0.1 --port 1 \
  --data-dir "$DATA" --out-dir "$SCRATCH/client-bad-out" --log-dir "$SCRATCH/client-bad-logs"
expect_exit client-badconfig 1 10
assert_contains "$SCRATCH/client-badconfig.err" "'chunk_bytes'"
assert_not_contains "$SCRATCH/client-badconfig.err" "cannot connect"

# ---------------------------------------------------------------- (c) ---
# A raw connection that does not start with HELLO never gets a slot: it is
# rejected with an error and closed. One that says HELLO and then misbehaves
# takes the free slot A and gives it back. Either way it is closed within a
# few seconds, the console calls it a protocol error, the server keeps
# running, and four real peers then complete an exchange on it as if nothing
# had happened.
note "(c) garbage and malformed frames on raw TCP connections"
SERVER_NAME=c-server start_server --log-dir "$SCRATCH/c/logs"
HELLO='CX\x02\x11\x00\x00\x00\x00'
k=0
slots=0
# garbage BYTES EXPECTED_TEXT CONSOLE_LINE: sends printf-formatted BYTES on a
# new connection; the server must close it within 5 s saying EXPECTED_TEXT,
# and its console must say so on a new line holding CONSOLE_LINE.
garbage() {
  local bytes=$1 expected=$2 console=$3 rc=0 seen
  k=$((k + 1))
  seen=$(grep -c -- "$console" "$SERVER_OUT" || true)
  raw_exchange "$PORT" "$bytes" "$SCRATCH/raw$k.bin" 5 || rc=$?
  [[ $rc != 124 ]] || fail "raw connection $k ($bytes) was not closed by the server within 5 s"
  [[ $rc == 0 ]] ||
    fail "raw connection $k ($bytes) failed with status $rc: $(cat "$SCRATCH/raw$k.bin.err")"
  grep -qaF -- "$expected" "$SCRATCH/raw$k.bin" ||
    fail "raw connection $k ($bytes): the server's answer does not say '$expected':" \
      "$(tr -c '[:print:]' . <"$SCRATCH/raw$k.bin")"
  pid_alive "$SERVER_PID" || fail "server died after raw connection $k ($bytes)$(_tail_hint c-server)"
  wait_for_count "$SERVER_OUT" "$console" $((seen + 1)) 5 "$SERVER_PID"
  grep -- "$console" "$SERVER_OUT" | tail -n 1 | grep -qF "protocol error: " ||
    fail "raw connection $k: the server console does not call it a protocol error$(_tail_hint c-server)"
  grep -- "$console" "$SERVER_OUT" | tail -n 1 | grep -qF -- "$expected" ||
    fail "raw connection $k: the server console does not say '$expected'$(_tail_hint c-server)"
}
# before_hello BYTES EXPECTED: rejected without a slot.
before_hello() { garbage "$1" "$2" "rejected a connection"; }
# after_hello BYTES EXPECTED: HELLO, then BYTES: slot A, given back.
after_hello() {
  slots=$((slots + 1))
  garbage "$HELLO$1" "$2" "slot A is free"
}
before_hello 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' "bad magic"
before_hello 'CX\x02\x06\xff\xff\xff\xff' "oversized"
before_hello 'CX\x02\x04\x7f\xff\xff\xff' "oversized"
before_hello 'CX\x07\x02\x00\x00\x00\x00' "version"
before_hello 'CX\x01\x11\x00\x00\x00\x00' "unsupported protocol version 1"
before_hello 'CX\x02\x63\x00\x00\x00\x00' "unknown frame type"
before_hello 'CX\x02\x01\x00\x00\x00\x00' "expected HELLO first, got FLAG"
after_hello 'CX\x02\x01\x00\x00\x00\x00' "may not send FLAG"
after_hello 'CX\x02\x02\x00\x00\x00\x01\x00' "malformed ANNOUNCE"
after_hello 'CX\x02\x04\x00\x00\x00\x00' "may not send REQUEST_CHUNK"
after_hello 'CX\x02\x06\xff\xff\xff\xff' "oversized"
[[ $(grep -c "client A joined" "$SERVER_OUT") == "$slots" ]] ||
  fail "only the $slots raw connections that said HELLO should have joined as A$(_tail_hint c-server)"

for id in "${IDS[@]}"; do
  start_peer "c-$id" --data-dir "$DATA" --out-dir "$SCRATCH/c/out" --log-dir "$SCRATCH/c/logs"
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
for id in "${IDS[@]}"; do expect_exit "c-$id" 0 30; done
expect_exit c-server 0 15
check_exchange_succeeded "$SCRATCH/c/logs" "$SCRATCH/c/out"
# The exchange itself was not disturbed: every round and the final clocks are
# those of (a)'s run (same files and config). Whether and where the strangers
# are mentioned in Server.txt is not checked here.
grep -F "(round " "$SCRATCH/a/logs/Server.txt" >"$SCRATCH/a-rounds.txt"
grep -F "(round " "$SCRATCH/c/logs/Server.txt" >"$SCRATCH/c-rounds.txt"
[[ -s $SCRATCH/a-rounds.txt ]] || fail "no round lines in (a)'s Server.txt"
diff "$SCRATCH/a-rounds.txt" "$SCRATCH/c-rounds.txt" >"$SCRATCH/c-diff.txt" ||
  fail "the rounds in Server.txt after the raw connections differ from a clean run: $(head -n 10 "$SCRATCH/c-diff.txt")"
[[ $(final_clocks_of "$SCRATCH/c/logs/Server.txt") == "$(final_clocks_of "$SCRATCH/a/logs/Server.txt")" ]] ||
  fail "final clocks after the raw connections differ from a clean run"

# ---------------------------------------------------------------- (d) ---
note "(d) nothing listening; server stopped by SIGTERM and SIGINT"
# A port that was just free: a server took it (port 0) and was stopped.
SERVER_NAME=d-term start_server --log-dir "$SCRATCH/d/term-logs"
free_port=$PORT
wait_for_text "$SERVER_OUT" "waiting for 4 clients" 5 "$SERVER_PID"
kill -TERM "$SERVER_PID"
expect_exit d-term 143 10
assert_contains "$SCRATCH/d/term-logs/Server.txt" "error: server stopped"
assert_json "$SCRATCH/d/term-logs/summary.json" success false

SERVER_NAME=d-int start_server --log-dir "$SCRATCH/d/int-logs"
wait_for_text "$SERVER_OUT" "waiting for 4 clients" 5 "$SERVER_PID"
kill -INT "$SERVER_PID"
expect_exit d-int 130 10
assert_contains "$SCRATCH/d/int-logs/Server.txt" "error: server stopped"

start_client d-noserver --host 127.0.0.1 --port "$free_port" --data-dir "$DATA" \
  --out-dir "$SCRATCH/d/out" --log-dir "$SCRATCH/d/logs"
expect_exit d-noserver 1 10
assert_contains "$SCRATCH/d-noserver.err" "cannot connect"
assert_contains "$SCRATCH/d-noserver.err" "127.0.0.1:$free_port"

note "all checks passed"
