#!/usr/bin/env bash
# chunkex-diff on two real runs that differ in one cost (C's chunk cost 10 ms
# instead of 8): the first differing round, the per-round clock deltas and
# the final clocks against the clock model of docs/DESIGN.md §3; identical runs; --ignore,
# --json, --max-rounds; exit status 0 / 1 / 2 and error messages that name
# the file (docs/DESIGN.md §8).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$_LIB_DIR/runs.sh"

make_two_runs 20

n=0
# run_diff EXPECTED_EXIT ARGS...: chunkex-diff ARGS, output in $OUT_FILE / $ERR_FILE.
run_diff() {
  local want=$1
  shift
  n=$((n + 1))
  start_bg "diff$n" "$DIFF_BIN" "$@"
  wait_pid_within "${PID_OF[diff$n]}" 30 || true
  OUT_FILE=$SCRATCH/diff$n.out
  ERR_FILE=$SCRATCH/diff$n.err
  [[ $WAIT_RC == "$want" ]] ||
    fail "chunkex-diff $* exited $WAIT_RC, expected $want$(_tail_hint "diff$n")"
}

# ------------------------------------------------------- identical runs ---
cp -r "$BASE_LOGS" "$SCRATCH/copy"
run_diff 0 "$BASE_LOGS" "$SCRATCH/copy"
assert_contains "$OUT_FILE" ": identical"
assert_contains "$OUT_FILE" "All 61 rounds logged have the same requests and end clocks."
[[ ! -s $ERR_FILE ]] || fail "stderr of an identical comparison: $(cat "$ERR_FILE")"

# ------------------------------------------------- runs that differ ---
run_diff 1 "$BASE_LOGS" "$C10_LOGS"
assert_contains "$OUT_FILE" "the runs differ"
assert_contains "$OUT_FILE" "The first round that differs: 0."
for name in Server A B C D; do
  grep -Eq "^  $name +round 0 " "$OUT_FILE" || fail "$name: first difference not in round 0: $(grep -E "^  $name " "$OUT_FILE")"
done
# The server's first differing line is C's CHUNK_DATA of round 0: C's clock
# after its forward (1.7) plus its chunk cost, 8 ms then 10 ms.
grep -Eq '^! +16 9\.7 \[Server\] CHUNK_DATA C -> B: chunk 0 of C \(round 0\) +\| +16 11\.7 \[Server\] CHUNK_DATA C -> B' "$OUT_FILE" ||
  fail "side-by-side context of the server's first difference missing:
$(sed -n '/^Server, round 0/,/^$/p' "$OUT_FILE")"
# docs/DESIGN.md §3, round 0 with C's chunk cost 10: the answers' sync is 11.7
# instead of 10.8 (+0.9), so A, B, D end 0.9 later and C, which pays its own
# chunk cost again for its SEND_CHUNK, 2.9 later. Each later round adds 1.8
# (0.9 at each of the two syncs).
assert_contains "$OUT_FILE" "  round 0: clock A +0.9 B +0.9 C +2.9 D +0.9"
assert_contains "$OUT_FILE" "  round 1: clock A +2.7 B +2.7 C +4.7 D +2.7, of which +1.8 each in this round"
assert_contains "$OUT_FILE" "Rounds that differ: 61 of the 61 logged (0 to 60;"
[[ $(grep -c '^  round ' "$OUT_FILE") == 20 ]] || fail "the per-round summary should list 20 rounds by default"

# Final clocks and rounds: the model of docs/DESIGN.md §2-§3, run independently.
size=$((20 * CHUNK))
model_base=$(model_final "$size,$size,$size,$size" "$CHUNK" "$DEFAULT_COSTS_US")
model_c10=$(model_final "$size,$size,$size,$size" "$CHUNK" "6000:600,7000:700,10000:800,9000:900")
read -r -a base_us <<<"$model_base"
read -r -a c10_us <<<"$model_c10"
grep -Eq "^ +rounds +${base_us[0]} +${c10_us[0]} +0$" "$OUT_FILE" || fail "rounds row wrong: $(grep ' rounds ' "$OUT_FILE")"
IDS=(A B C D)
for i in 0 1 2 3; do
  id=${IDS[i]}
  delta=$((c10_us[i + 1] - base_us[i + 1]))
  row="^ +clock $id +$(us_to_ms "${base_us[i + 1]}") +$(us_to_ms "${c10_us[i + 1]}") +\\+$(us_to_ms "$delta")$"
  grep -Eq "${row//./\\.}" "$OUT_FILE" || fail "final clock row of $id: expected /$row/, got: $(grep "clock $id " "$OUT_FILE")"
done
note "final clocks: $(grep -E '^ +clock [A-D]' "$OUT_FILE" | tr -s ' ' | tr '\n' ';')"

# --max-rounds, --json.
run_diff 1 --max-rounds 2 "$BASE_LOGS" "$C10_LOGS"
[[ $(grep -c '^  round ' "$OUT_FILE") == 2 ]] || fail "--max-rounds 2 listed $(grep -c '^  round ' "$OUT_FILE") rounds"
assert_contains "$OUT_FILE" "the first 2 (--max-rounds N for more)"
run_diff 1 --json "$BASE_LOGS" "$C10_LOGS"
assert_json "$OUT_FILE" identical false
assert_json "$OUT_FILE" first_round_differing 0
assert_json "$OUT_FILE" rounds.compared 61
assert_json "$OUT_FILE" rounds.differing 61
assert_json "$OUT_FILE" final.rounds.left "${base_us[0]}"
assert_json "$OUT_FILE" final.clocks.C.delta_ms "$(us_to_ms $((c10_us[3] - base_us[3])))"

# ----------------------------------------------------------- --ignore ---
# A copy of the base run with a reconnect line the other run lacks.
cp -r "$BASE_LOGS" "$SCRATCH/paused"
awk 'NR == 25 { print "17.4 [Server] client B disconnected: exchange paused at round 1; waiting up to 60 s for it to come back" } { print }' \
  "$BASE_LOGS/Server.txt" >"$SCRATCH/paused/Server.txt"
run_diff 1 "$BASE_LOGS" "$SCRATCH/paused"
grep -Eq '^  Server +round 1 ' "$OUT_FILE" || fail "the inserted line should differ in round 1: $(grep '^  Server' "$OUT_FILE")"
run_diff 0 --ignore 'disconnected|reconnected' "$BASE_LOGS" "$SCRATCH/paused"
assert_contains "$OUT_FILE" ": identical"

# ------------------------------------------------------- single files ---
run_diff 1 "$BASE_LOGS/ClientC.txt" "$C10_LOGS/ClientC.txt"
grep -Eq '^  C +round 0 ' "$OUT_FILE" || fail "ClientC.txt: first difference not in round 0"
run_diff 0 "$BASE_LOGS/ClientA.txt" "$SCRATCH/copy/ClientA.txt"

# ------------------------------------------------------------- errors ---
run_diff 2 "$BASE_LOGS" "$SCRATCH/nowhere"
assert_contains "$ERR_FILE" "$SCRATCH/nowhere: no such file or directory"
mkdir -p "$SCRATCH/junk"
printf 'hello\n' >"$SCRATCH/junk/Server.txt"
run_diff 2 "$BASE_LOGS" "$SCRATCH/junk"
assert_contains "$ERR_FILE" "$SCRATCH/junk/Server.txt line 1: not a chunkex log line"
mkdir -p "$SCRATCH/empty"
run_diff 2 "$SCRATCH/empty" "$BASE_LOGS"
assert_contains "$ERR_FILE" "no chunkex log here"
run_diff 2 "$BASE_LOGS" "$C10_LOGS/Server.txt"
assert_contains "$ERR_FILE" "compare two log directories or two log files"
run_diff 2 --ignore '(' "$BASE_LOGS" "$C10_LOGS"
assert_contains "$ERR_FILE" "not a regular expression"
run_diff 2 --no-such-flag "$BASE_LOGS" "$C10_LOGS"
run_diff 0 --help
assert_contains "$OUT_FILE" "--ignore"
assert_contains "$OUT_FILE" "Exit status: 0 identical, 1 different, 2 error"
note "ok"
