#!/usr/bin/env bash
# A peer dies (SIGKILL) in the middle of the exchange, with no grace period
# (reconnect_grace_s 0; test_reconnect covers coming back). The server logs it by
# ID, tells the others why the exchange cannot go on, and nothing hangs: all
# exit non-zero within 10 s. No received file carries its final name unless
# it is complete and verified (docs/DESIGN.md §1.2 and §5).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDS=(A B C D)
DATA=$SCRATCH/data
LOGS=$SCRATCH/logs
OUT=$SCRATCH/out
remove_on_success "$DATA" "$OUT"

# A, B, D: 6000 chunks of 16 KiB, about 18000 rounds, several seconds with
# --window 1, while the kill comes about a second after the first chunk.
# C's file is small (21 chunks): the others hold it complete and verified
# long before C dies.
CHUNK_BYTES=16384
BIG=$((6000 * CHUNK_BYTES))
SMALL=$((20 * CHUNK_BYTES + 100))
"$GEN_BIN" --data-dir "$DATA" --bytes $BIG $BIG $SMALL $BIG --seed 9 >/dev/null
echo "{ \"chunk_bytes\": $CHUNK_BYTES, \"reconnect_grace_s\": 0 }" >"$SCRATCH/config.json"

start_server --config "$SCRATCH/config.json" --log-dir "$LOGS" --window 1
for id in "${IDS[@]}"; do
  start_peer "client$id" --data-dir "$DATA" --out-dir "$OUT" --log-dir "$LOGS" --window 1
  wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
done
wait_for_text "$SERVER_OUT" "[server] exchange started" 15 "$SERVER_PID"

# Progress under way: the .part files exist, then about a second of chunks.
deadline_in 10
until [[ $(count_files "$OUT" '*.part') -gt 0 ]]; do
  past_deadline && fail "no .part files appeared in $OUT within 10 s"
  sleep 0.05
done
sleep 1

if ! pid_alive "$SERVER_PID" || grep -qF "exchange complete" "$SERVER_OUT"; then
  fail "the exchange was over before client C could be killed: make the workload bigger"
fi
for id in "${IDS[@]}"; do
  pid_alive "${PID_OF[client$id]}" || fail "client $id ended before the kill$(_tail_hint "client$id")"
done

kill -KILL "${PID_OF[clientC]}"
deadline_in 10
wait_pid_within "${PID_OF[clientC]}" 5 || true
[[ $WAIT_RC == 137 ]] || fail "client C exited with $WAIT_RC after SIGKILL, expected 137"

# Everyone else ends within 10 s of the kill, with a reported failure (1).
for name in server clientA clientB clientD; do
  expect_failure_exit "$name" "$(remaining_s)"
done
note "server and clients A, B, D exited 1 within 10 s of the kill"

grep -qF "exchange complete" "$SERVER_OUT" && fail "server claims the exchange completed"
grep -qF "client C disconnected" "$SERVER_OUT" "$SERVER_ERR" ||
  fail "server console does not say 'client C disconnected'$(_tail_hint server)"
assert_contains "$LOGS/Server.txt" "error: client C disconnected"
for id in A B D; do
  err=$SCRATCH/client$id.err
  [[ -s $err ]] || fail "client $id exited without saying why (stderr is empty)"
  assert_contains "$err" "[client] error:"
  assert_contains "$err" "client C disconnected"
  assert_contains "$LOGS/Client$id.txt" "error:"
done

assert_json "$LOGS/summary.json" success false
json_value "$LOGS/summary.json" failure
[[ $REPLY == *"client C disconnected"* ]] || fail "summary.json failure is '$REPLY'"

# Received files: a final name only for a complete, verified file; anything
# else stays a .part. For files of C in particular, but for all of them.
final_count=0
part_count=0
for id in "${IDS[@]}"; do
  for peer in "${IDS[@]}"; do
    [[ $id == "$peer" ]] && continue
    final=$OUT/${id}_${peer}_complete.file
    if [[ -e $final ]]; then
      assert_same_file "$DATA/$peer.file" "$final"
      assert_absent "$final.part" "a verified file keeps no .part beside it"
      final_count=$((final_count + 1))
    else
      assert_exists "$final.part" "an incomplete file of $peer for $id"
      part_count=$((part_count + 1))
    fi
  done
done
for f in "$OUT"/*; do
  case ${f##*/} in
    [A-D]_[A-D]_complete.file | [A-D]_[A-D]_complete.file.part | [A-D].progress) ;;
    *) fail "unexpected file in $OUT: ${f##*/}" ;;
  esac
done
for id in A B D; do
  # C's small file was complete well before the kill: final name, verified.
  assert_same_file "$DATA/C.file" "$OUT/${id}_C_complete.file"
  # C never got the big files.
  for peer in A B D; do
    [[ $peer == "$id" ]] && continue
    assert_exists "$OUT/${id}_${peer}_complete.file.part"
  done
  assert_exists "$OUT/C_${id}_complete.file.part"
  assert_absent "$OUT/C_${id}_complete.file"
  # The summary of a failed run need not list received files; if it does,
  # C's file is among the verified ones.
  json_value "$LOGS/summary.json" "received.$id.C"
  [[ $REPLY == "<missing>" || $REPLY == verified ]] ||
    fail "summary.json says received.$id.C is '$REPLY'"
done

note "all checks passed ($final_count final files, $part_count .part files)"
