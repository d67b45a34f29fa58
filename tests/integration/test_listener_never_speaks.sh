#!/usr/bin/env bash
# Issue 10, point 1: a client pointed at a listener that never speaks (an
# HTTP server, anything that waits for the client to talk first) gives up
# after handshake_timeout_s, saying what it found, instead of sitting at
# "connected to ..." for ever. A listener that answers garbage is refused at
# once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $HAVE_PYTHON == 1 ]] || { note "python3 is needed for the fake listeners: skipped"; exit 77; }

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 1000 1000 1000 1000 --seed 5 >/dev/null
echo '{ "handshake_timeout_s": 2 }' >"$SCRATCH/config.json"

# listen MODE: a listener on a free port that accepts and then stays silent
# ("silent") or sends an HTTP answer ("garbage"); its port is in LISTENER_PORT.
listen() {
  local mode=$1 name=listener-$1
  start_bg "$name" python3 -c '
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
if sys.argv[1] == "garbage":
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
time.sleep(60)
' "$mode"
  until [[ -s $SCRATCH/$name.out ]]; do sleep 0.02; done
  LISTENER_PORT=$(head -n 1 "$SCRATCH/$name.out")
}

listen silent
start_client client-silent --host 127.0.0.1 --port "$LISTENER_PORT" --config "$SCRATCH/config.json" \
  --data-dir "$DATA" --out-dir "$SCRATCH/out" --log-dir "$SCRATCH/logs"
started=$SECONDS
expect_failure_exit client-silent 6
assert_contains "$SCRATCH/client-silent.err" \
  "the server sent nothing within 2 s of the connection: is a chunkex server listening there?"
note "silent listener: the client gave up after $((SECONDS - started)) s"

listen garbage
start_client client-garbage --host 127.0.0.1 --port "$LISTENER_PORT" --config "$SCRATCH/config.json" \
  --data-dir "$DATA" --out-dir "$SCRATCH/out" --log-dir "$SCRATCH/logs"
expect_failure_exit client-garbage 3
assert_contains "$SCRATCH/client-garbage.err" "not a chunkex frame (bad magic bytes)"
note "listener answering HTTP: refused at once"
