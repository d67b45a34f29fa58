#!/usr/bin/env bash
# Issue 10, point 9: a client whose config differs from the server's (chunk
# size, costs, max clients) follows the server, and says on its console which
# values the server imposes. The logs do not mention it: they equal a run in
# which every config agrees.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 30000 20000 10000 5000 --seed 5 >/dev/null
echo '{ "chunk_bytes": 4096 }' >"$SCRATCH/server.json"
cat >"$SCRATCH/client.json" <<'JSON'
{ "chunk_bytes": 8192, "max_clients": 5,
  "costs_ms": { "A": { "chunk": 6, "other": 0.6 }, "B": { "chunk": 1, "other": 0.1 },
                "C": { "chunk": 8, "other": 0.8 }, "D": { "chunk": 9, "other": 0.9 },
                "E": { "chunk": 10, "other": 1 } } }
JSON

start_server --config "$SCRATCH/server.json" --log-dir "$SCRATCH/logs"
start_peer peer-A --config "$SCRATCH/client.json" --data-dir "$DATA" --out-dir "$SCRATCH/out" \
  --log-dir "$SCRATCH/logs"
wait_for_text "$SERVER_OUT" "client A joined" 10 "$SERVER_PID" "$CLIENT_PID"
for id in B C D; do
  start_peer "peer-$id" --config "$SCRATCH/server.json" --data-dir "$DATA" --out-dir "$SCRATCH/out" \
    --log-dir "$SCRATCH/logs"
  wait_for_text "$SERVER_OUT" "client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
for id in A B C D; do expect_exit "peer-$id" 0 20; done
expect_exit server 0 10
assert_all_received "$DATA" "$SCRATCH/out"

console=$(cat "$SCRATCH/peer-A.out" "$SCRATCH/peer-A.err")
for want in "the server's settings win over this client's config" \
  "chunk_bytes 4096 (this client's config: 8192)" "max_clients 4 (this client's config: 5)" \
  "costs_ms.B 7.0/0.7 (this client's config: 1.0/0.1)"; do
  [[ $console == *"$want"* ]] || fail "client A's console lacks '$want': $console"
done
for id in B C D; do assert_not_contains "$SCRATCH/peer-$id.err" "settings win"; done
assert_not_contains "$SCRATCH/logs/ClientA.txt" "settings win"
assert_contains "$SCRATCH/logs/ClientA.txt" "own file 30000 bytes, 8 chunks"
note "client A was told which settings the server imposes; the exchange used the server's"
