#!/usr/bin/env bash
# A client's connection is cut mid-exchange while both processes live on
# (issue 4: "loses its connection"). The socket is destroyed with `ss -K`,
# which resets it as a network failure would. The client connects again by
# itself, claims its old slot, and the exchange completes with every file
# verified and every log equal to the uninterrupted run's but for the lines
# recording the cut and the return.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
CHUNK_BYTES=16384
"$GEN_BIN" --data-dir "$DATA" --bytes $((2000 * CHUNK_BYTES)) $((2100 * CHUNK_BYTES + 3)) \
  $((1900 * CHUNK_BYTES)) $((2000 * CHUNK_BYTES)) --seed 51 >/dev/null
echo "{ \"chunk_bytes\": $CHUNK_BYTES }" >"$SCRATCH/config.json"
remove_on_success "$SCRATCH/ref/out" "$SCRATCH/run/out"

run_reference_exchange "$DATA" "$SCRATCH/config.json"

SERVER_NAME=run-server start_server --config "$SCRATCH/config.json" --log-dir "$SCRATCH/run/logs"
start_four_peers run "$DATA" "$SCRATCH/run" --config "$SCRATCH/config.json" --window 8
CUT_ROUND=$((300 + RANDOM % 3000))
wait_for_rounds "$SCRATCH/run/logs/Server.txt" "$CUT_ROUND" 60

# Client B's end of its connection: the local port of the socket its process holds.
pid=${PID_OF[run-B]}
line=$(ss -tnpH state established "( dport = :$PORT )" | grep "pid=$pid," || true)
[[ -n $line ]] || fail "no connection of client B (pid $pid) to port $PORT in: $(ss -tnpH)"
local_port=$(awk '{ n = split($3, a, ":"); print a[n] }' <<<"$line")
note "cutting client B's connection (127.0.0.1:$local_port) at round $CUT_ROUND"
# (ss also tries IPv6 and says "Invalid argument" for it; the IPv4 socket goes.)
ss -K dst 127.0.0.1 dport = ":$PORT" sport = ":$local_port" >/dev/null 2>"$SCRATCH/ss.err" || true
wait_for_text "$SERVER_OUT" "client B disconnected: exchange paused" 10 "$SERVER_PID"
wait_for_text "$SCRATCH/run-B.err" "connecting again" 10 "$pid"
wait_for_text "$SCRATCH/run-B.out" "coming back as client B" 10 "$pid"
for id in A B C D; do expect_exit "run-$id" 0 60; done
expect_exit run-server 0 10

assert_all_received "$DATA" "$SCRATCH/run/out" "$SCRATCH/run/logs"
assert_logs_equal_but_resume_lines "$SCRATCH/ref/logs" "$SCRATCH/run/logs"
assert_json "$SCRATCH/run/logs/summary.json" reconnects 1
json_value "$SCRATCH/run/logs/summary.json" refetched_bytes
note "connection cut at round $CUT_ROUND; client B reconnected by itself; $REPLY bytes sent again; 12 files verified; logs equal"
