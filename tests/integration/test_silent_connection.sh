#!/usr/bin/env bash
# Connections that open and say nothing (a port scanner, a stuck client, an
# idle flood without a token) never take a client slot: a slot goes only to a
# peer that said HELLO. Here two silent connections come first; the four real
# peers still get A..D in their order, the exchange completes, and each
# silent connection is told why it is dropped at the handshake deadline
# (issue 10, point 8: they used to hold slots A and B, and a real peer was
# told "server full").
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 300000 200000 100000 50000 --seed 5 >/dev/null
CONFIG=$SCRATCH/config.json
sed 's/"handshake_timeout_s": 10/"handshake_timeout_s": 2/' "$CHUNKEX_SOURCE_DIR/configs/default.json" > "$CONFIG"
grep -q '"handshake_timeout_s": 2' "$CONFIG" || fail "could not derive the test config"

start_server --config "$CONFIG" --log-dir "$SCRATCH/logs"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"  # connects, then says nothing
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
for id in A B C D; do
  if [[ $id == D ]]; then  # the silent ones are dropped while the exchange waits for D
    wait_for_count "$SERVER_OUT" "no HELLO before the handshake deadline" 2 10 "$SERVER_PID"
  fi
  start_peer "peer-$id" --config "$CONFIG" --data-dir "$DATA" --out-dir "$SCRATCH/out" \
    --log-dir "$SCRATCH/logs"
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID"
done
grep -q "server full" "$SERVER_OUT" && fail "a real peer was told the server is full"

expect_exit server 0 30
for id in A B C D; do expect_exit "peer-$id" 0 10; done
assert_all_received "$DATA" "$SCRATCH/out"
# Each silent connection was told why before it was closed.
for fd in 3 4; do
  reply=$(timeout 5 cat <&$fd | tr -d '\0' || true)
  [[ $reply == *"no HELLO before the handshake deadline"* ]] ||
    fail "silent connection on fd $fd got no ERROR frame: '$reply'"
done
exec 3<&- 4<&-
note "two silent connections took no slot; exchange completed"
