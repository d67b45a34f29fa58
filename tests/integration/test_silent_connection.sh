#!/usr/bin/env bash
# A connection that takes a slot and never announces (a port scanner, a stuck
# client) gives the slot back at the handshake deadline, so the real peers
# still get their exchange instead of waiting forever.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 300000 200000 100000 50000 --seed 5 >/dev/null
CONFIG=$SCRATCH/config.json
sed 's/"handshake_timeout_s": 10/"handshake_timeout_s": 2/' "$CHUNKEX_SOURCE_DIR/configs/default.json" > "$CONFIG"
grep -q '"handshake_timeout_s": 2' "$CONFIG" || fail "could not derive the test config"

start_server --config "$CONFIG" --log-dir "$SCRATCH/logs"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"  # connects, then says nothing
wait_for_text "$SERVER_OUT" "[server] client A joined" 10 "$SERVER_PID"
for id in B C D; do
  start_peer "peer-$id" --config "$CONFIG" --data-dir "$DATA" --out-dir "$SCRATCH/out" \
    --log-dir "$SCRATCH/logs"
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID"
done

wait_for_text "$SERVER_OUT" "no ANNOUNCE before the handshake deadline" 10 "$SERVER_PID"
wait_for_text "$SERVER_OUT" "slot A is free" 5 "$SERVER_PID"
start_peer peer-A --config "$CONFIG" --data-dir "$DATA" --out-dir "$SCRATCH/out" \
  --log-dir "$SCRATCH/logs"

expect_exit server 0 30
for id in A B C D; do expect_exit "peer-$id" 0 10; done
assert_all_received "$DATA" "$SCRATCH/out"
# The silent connection was told why before it was closed.
reply=$(timeout 5 cat <&3 | tr -d '\0' || true)
[[ $reply == *"handshake deadline"* ]] || fail "the silent connection got no ERROR frame: '$reply'"
exec 3<&-
note "silent connection released its slot; exchange completed"
