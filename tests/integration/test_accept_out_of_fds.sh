#!/usr/bin/env bash
# Issue 10, point 2: out of file descriptors, the server's accept loop used to
# retry at once (about 190 000 "accept failed: Too many open files" lines a
# second at 100% of a core). It pauses accepting instead, and accepts again
# once descriptors are free: a real exchange then completes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v prlimit >/dev/null || { note "prlimit is missing: skipped"; exit 77; }
[[ $HAVE_PYTHON == 1 ]] || { note "python3 is needed to hold connections open: skipped"; exit 77; }

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --bytes 30000 20000 10000 5000 --seed 5 >/dev/null
echo '{ "handshake_timeout_s": 3 }' >"$SCRATCH/config.json"
start_server --config "$SCRATCH/config.json" --log-dir "$SCRATCH/logs"
# A garbage connection first, rejected at once. Under the sanitizers this also
# matters: UBSan checks the first virtual call on each type through a pipe(),
# which fails without a free descriptor and reports an "invalid vptr" that is
# not there; the rejection makes those calls while descriptors are free.
raw_exchange "$PORT" 'GET / HTTP/1.1\r\n\r\n' "$SCRATCH/garbage.bin" 5 ||
  fail "the garbage connection was not answered and closed within 5 s"
grep -qaF "bad magic" "$SCRATCH/garbage.bin" || fail "the garbage connection got no ERROR"
prlimit --pid "$SERVER_PID" --nofile=40:40

# 100 connections that stay silent: far more than the server's 40 descriptors.
start_bg holder python3 -c '
import socket, sys, time
held = []
for _ in range(100):
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1))
    except OSError:
        pass
print("holding", len(held), flush=True)
time.sleep(float(sys.argv[2]))
' "$PORT" 4
wait_for_text "$SCRATCH/holder.out" "holding" 10 "${PID_OF[holder]}"
ticks_before=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
sleep 2
ticks_after=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
cpu_percent=$(((ticks_after - ticks_before) * 100 / $(getconf CLK_TCK) / 2))
lines=$(grep -c "Too many open files" "$SERVER_ERR" "$SERVER_OUT" | awk -F: '{n += $2} END {print n}')
note "out of descriptors for 2 s: ${cpu_percent}% of a core, $lines 'Too many open files' lines"
((cpu_percent < 30)) || fail "the server spins at ${cpu_percent}% of a core out of descriptors"
((lines < 100)) || fail "$lines 'Too many open files' lines: the accept loop retries at once"
expect_exit holder 0 10

# The held connections are gone (and their slots freed): real peers get in.
for id in A B C D; do
  start_peer "peer-$id" --config "$SCRATCH/config.json" --data-dir "$DATA" --out-dir "$SCRATCH/out" \
    --log-dir "$SCRATCH/logs"
done
for id in A B C D; do expect_exit "peer-$id" 0 30; done
expect_exit server 0 10
assert_all_received "$DATA" "$SCRATCH/out"
note "descriptors back: the exchange completed"
