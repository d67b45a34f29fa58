#!/usr/bin/env bash
# Issue 10, point 3: a log directory on a full disk. The write that fails is
# an error, never silence: the process names the file and the reason, exits
# 1, and the exchange ends everywhere at once (the server tells every peer; a
# peer tells the server). No summary.json.part is left behind, and the log
# ends with a whole line. The full disk is a 256 KiB tmpfs in a private mount
# namespace (those runs are skipped where that is refused); a file size limit
# (prlimit --fsize, which would raise SIGXFSZ: chunkex ignores it) is the
# same fault anywhere.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH/run1/out" "$SCRATCH/run2/out"
# 3000 chunks of 256 bytes each: 9000 rounds, a few MB of log per process,
# well past the log's 1 MiB buffer.
"$GEN_BIN" --data-dir "$DATA" --chunks 3000 --chunk-bytes 256 --seed 5 >/dev/null
echo '{ "chunk_bytes": 256, "idle_timeout_s": 5 }' >"$SCRATCH/config.json"
REAL_SERVER=$SERVER_BIN REAL_CLIENT=$CLIENT_BIN

# assert_whole_lines LOG: what the full disk took of LOG ends with a whole line.
assert_whole_lines() {
  [[ -s $1 ]] || fail "$1 is empty"
  [[ $(tail -c 1 "$1" | od -An -c | tr -d ' ') == '\n' ]] || fail "$1 ends in half a line: $(tail -c 60 "$1")"
}

note "the server may write files of 200 kB at most (prlimit --fsize)"
printf '#!/bin/bash\nexec prlimit --fsize=200000 %q "$@"\n' "$REAL_SERVER" >"$SCRATCH/server-fsize"
chmod +x "$SCRATCH/server-fsize"
SERVER_BIN=$SCRATCH/server-fsize SERVER_NAME=server0 start_server \
  --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run0/logs"
SERVER_BIN=$REAL_SERVER
start_four_peers run0 "$DATA" "$SCRATCH/run0" --config "$SCRATCH/config.json"
deadline_in 15
for name in server0 run0-A run0-B run0-C run0-D; do expect_failure_exit "$name" "$(remaining_s)"; done
why="cannot write log $SCRATCH/run0/logs/Server.txt: File too large"
assert_contains "$SCRATCH/server0.err" "$why"
assert_whole_lines "$SCRATCH/run0/logs/Server.txt"
for id in A B C D; do assert_contains "$SCRATCH/run0-$id.err" "$why"; done
note "server: '$why'; every process exited 1"

if ! can_mount_small_disk; then
  note "cannot mount a tmpfs here (needs root and unshare): the full-disk runs are skipped"
  exit 0
fi

note "the server's log directory is full"
small_disk_wrapper server-on-small-disk 256k "$SCRATCH/run1/logs" "$SCRATCH/run1/logs-copy" "$REAL_SERVER"
SERVER_BIN=$SCRATCH/server-on-small-disk SERVER_NAME=server1 start_server \
  --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run1/logs"
SERVER_BIN=$REAL_SERVER
for id in A B C D; do
  start_peer "run1-$id" --config "$SCRATCH/config.json" --data-dir "$DATA" \
    --out-dir "$SCRATCH/run1/out" --log-dir "$SCRATCH/run1/clogs"
  wait_for_text "$SERVER_OUT" "client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
deadline_in 15
expect_failure_exit server1 "$(remaining_s)"
for id in A B C D; do expect_failure_exit "run1-$id" "$(remaining_s)"; done
why="cannot write log $SCRATCH/run1/logs/Server.txt: No space left on device"
assert_contains "$SCRATCH/server1.err" "$why"
for id in A B C D; do assert_contains "$SCRATCH/run1-$id.err" "$why"; done
assert_exists "$SCRATCH/run1/logs-copy/Server.txt"
assert_whole_lines "$SCRATCH/run1/logs-copy/Server.txt"
assert_absent "$SCRATCH/run1/logs-copy/summary.json.part" "a failed summary leaves no .part"
note "server: '$why'; every process exited 1"

note "client B's log directory is full"
start_server --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run2/logs"
small_disk_wrapper client-on-small-disk 256k "$SCRATCH/run2/blogs" "$SCRATCH/run2/blogs-copy" "$REAL_CLIENT"
for id in A B C D; do
  log_dir=$SCRATCH/run2/logs
  [[ $id == B ]] && CLIENT_BIN=$SCRATCH/client-on-small-disk log_dir=$SCRATCH/run2/blogs
  start_peer "run2-$id" --config "$SCRATCH/config.json" --data-dir "$DATA" \
    --out-dir "$SCRATCH/run2/out" --log-dir "$log_dir"
  CLIENT_BIN=$REAL_CLIENT
  wait_for_text "$SERVER_OUT" "client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
deadline_in 15
for name in run2-A run2-B run2-C run2-D server; do expect_failure_exit "$name" "$(remaining_s)"; done
why="cannot write log $SCRATCH/run2/blogs/ClientB.txt: No space left on device"
assert_contains "$SCRATCH/run2-B.err" "$why"
assert_whole_lines "$SCRATCH/run2/blogs-copy/ClientB.txt"
assert_contains "$SCRATCH/run2/logs/Server.txt" "error: client B reported an error: $why"
for id in A C D; do assert_contains "$SCRATCH/run2-$id.err" "client B reported an error: $why"; done
assert_json "$SCRATCH/run2/logs/summary.json" success false
note "client B: '$why'; every process exited 1"
