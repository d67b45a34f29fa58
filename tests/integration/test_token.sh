#!/usr/bin/env bash
# With a shared secret, only peers that prove it get a slot: a wrong or
# missing token is refused with a clear error and takes no slot, a client
# with a token refuses a server that never asks for it, and the peers that
# know the secret (by flag or by CHUNKEX_TOKEN) complete the exchange.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
OUT=$SCRATCH/out
LOGS=$SCRATCH/logs
"$GEN_BIN" --data-dir "$DATA" --bytes 400000 250000 131072 1000 --seed 9 >/dev/null

CHUNKEX_TOKEN=open-sesame start_server --log-dir "$LOGS"
assert_contains "$SERVER_OUT" "token required"

start_peer wrong --token guess --data-dir "$DATA" --out-dir "$SCRATCH/out-wrong" --log-dir "$SCRATCH/logs-wrong"
expect_exit wrong 1 10
assert_contains "$SCRATCH/wrong.err" "authentication failed"
start_peer missing --data-dir "$DATA" --out-dir "$SCRATCH/out-missing" --log-dir "$SCRATCH/logs-missing"
expect_exit missing 1 10
assert_contains "$SCRATCH/missing.err" "requires a token"
assert_not_contains "$SERVER_OUT" "joined"

for id in A B C D; do
  if [[ $id == B ]]; then
    CHUNKEX_TOKEN=open-sesame start_peer "peer-$id" --data-dir "$DATA" --out-dir "$OUT" --log-dir "$LOGS"
  else
    start_peer "peer-$id" --token open-sesame --data-dir "$DATA" --out-dir "$OUT" --log-dir "$LOGS"
  fi
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID"
done
expect_exit server 0 30
for id in A B C D; do expect_exit "peer-$id" 0 10; done
assert_all_received "$DATA" "$OUT"
assert_contains "$LOGS/Server.txt" "rejected connection 1: authentication failed"
assert_contains "$LOGS/Server.txt" "rejected connection 2: "
! grep -rq "open-sesame" "$LOGS" "$SCRATCH"/*.out "$SCRATCH"/*.err || fail "the token appears in a log or console output"

# A client with a token will not talk to a server that never asks for it.
SERVER_NAME=plain-server start_server --log-dir "$SCRATCH/logs-plain"
start_peer suspicious --token open-sesame --data-dir "$DATA" --out-dir "$SCRATCH/out-plain" \
  --log-dir "$SCRATCH/logs-plain"
expect_exit suspicious 1 10
assert_contains "$SCRATCH/suspicious.err" "never asked"
note "wrong and missing tokens refused; exchange with the token completed"
