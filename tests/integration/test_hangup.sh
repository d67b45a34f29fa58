#!/usr/bin/env bash
# SIGHUP (the terminal of a server or a client closed) stops a run as cleanly
# as Ctrl-C: the log is flushed and ends with its error line instead of being
# cut mid-line, and the others are told at once instead of waiting out the
# grace period for a peer that died.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATA=$SCRATCH/data
remove_on_success "$DATA" "$SCRATCH"/run*/out
gen_equal_files "$DATA" 16384 3000 9
echo '{ "chunk_bytes": 16384, "reconnect_grace_s": 60 }' >"$SCRATCH/config.json"

note "SIGHUP to the server"
exchange_until_round run1 "$SCRATCH/run1" 100 "$DATA" "$SCRATCH/config.json" --window 1
kill -HUP "$SERVER_PID"
deadline_in 10
expect_exit run1 129 "$(remaining_s)"
for id in A B C D; do expect_failure_exit "run1-$id" "$(remaining_s)"; done
[[ $(last_line "$SCRATCH/run1/logs/Server.txt") == *"[Server] exchange abandoned" ]] ||
  fail "Server.txt does not end with its abandon line: $(last_line "$SCRATCH/run1/logs/Server.txt")"
for id in A B C D; do assert_contains "$SCRATCH/run1-$id.err" "server stopped: hung up (SIGHUP)"; done

note "SIGHUP to client C"
exchange_until_round run2 "$SCRATCH/run2" 100 "$DATA" "$SCRATCH/config.json" --window 1
kill -HUP "${PID_OF[run2-C]}"
deadline_in 10
expect_exit run2-C 129 "$(remaining_s)"
for name in run2-A run2-B run2-D run2; do expect_failure_exit "$name" "$(remaining_s)"; done
assert_contains "$SCRATCH/run2/logs/Server.txt" "error: client C reported an error: stopped: hung up (SIGHUP)"
[[ $(last_line "$SCRATCH/run2/logs/ClientC.txt") == *"error: stopped: hung up (SIGHUP)" ]] ||
  fail "ClientC.txt does not end with its error line"
note "both runs ended within seconds, every log whole"
