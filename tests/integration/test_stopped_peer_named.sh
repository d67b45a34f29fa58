#!/usr/bin/env bash
# Issue 10, point 7: a client stopped with SIGSTOP past idle_timeout_s while
# the server has a lot of output queued for it (a wide window, big chunks) is
# named as the one stalling the exchange, every time. The socket's
# write-stall limit (2 x idle_timeout_s) is longer than the server's stall
# limit, so it can never take the frozen peer for disconnected and hold
# everyone for the grace period. Three stops in a row.
#
# Loopback's default socket buffers hold all the output the relay may queue
# (its budgets, DESIGN §9), so the server's writes would never block. Where it
# may (root), the test runs in a network namespace of its own whose TCP
# buffers are 32 KiB: the writes to the frozen peer block at once, which is
# when the two limits used to race.
if [[ -z ${CHUNKEX_SMALL_BUFFERS:-} ]] && unshare -n true 2>/dev/null; then
  exec unshare -n env CHUNKEX_SMALL_BUFFERS=1 bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ -n ${CHUNKEX_SMALL_BUFFERS:-} ]]; then
  ip link set lo up
  sysctl -qw net.ipv4.tcp_rmem="4096 16384 32768" net.ipv4.tcp_wmem="4096 16384 32768"
  note "in a network namespace with 32 KiB TCP buffers"
fi

DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH"/run*/out
gen_equal_files "$DATA" 131072 250 3
echo '{ "chunk_bytes": 131072, "idle_timeout_s": 2, "reconnect_grace_s": 30 }' >"$SCRATCH/config.json"

for run in 1 2 3; do
  exchange_until_round "run$run" "$SCRATCH/run$run" 30 "$DATA" "$SCRATCH/config.json" --window 128
  kill -STOP "${PID_OF[run$run-C]}"
  started=$SECONDS
  deadline_in 10
  for name in "run$run" "run$run-A" "run$run-B" "run$run-D"; do
    expect_failure_exit "$name" "$(remaining_s)"
  done
  kill -CONT "${PID_OF[run$run-C]}"
  expect_failure_exit "run$run-C" 10
  assert_contains "$SCRATCH/run$run/logs/Server.txt" "error: client C stalled the exchange"
  assert_not_contains "$SCRATCH/run$run/logs/Server.txt" "client C disconnected"
  note "run $run: C named as stalling; the others exited within $((SECONDS - started)) s"
done
