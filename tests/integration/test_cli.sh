#!/usr/bin/env bash
# Command lines: --help of every program explains its flags and exits 0; an
# unknown or invalid flag is refused (docs/DESIGN.md §9). Plus the generator's
# promises: exact sizes, seeded and repeatable.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

n=0
# run_cli EXPECTED_EXIT PROGRAM ARGS...: runs it (bounded), output in
# $SCRATCH/cli$n.out/.err; EXPECTED_EXIT "nonzero" accepts any failure code.
run_cli() {
  local want=$1
  shift
  n=$((n + 1))
  start_bg "cli$n" "$@"
  wait_pid_within "${PID_OF[cli$n]}" 10 || true
  if [[ $want == nonzero ]]; then
    [[ $WAIT_RC != 0 ]] || fail "'$*' exited 0, expected a failure$(_tail_hint "cli$n")"
    ((WAIT_RC < 128)) || fail "'$*' exited $WAIT_RC (signal?)$(_tail_hint "cli$n")"
  else
    [[ $WAIT_RC == "$want" ]] || fail "'$*' exited $WAIT_RC, expected $want$(_tail_hint "cli$n")"
  fi
  OUT_FILE=$SCRATCH/cli$n.out
  ERR_FILE=$SCRATCH/cli$n.err
}

# --help: exit 0, every flag listed.
for help in --help -h; do
  run_cli 0 "$SERVER_BIN" "$help"
  for flag in --config --host --port --log-dir --window --help; do assert_contains "$OUT_FILE" "$flag"; done
  assert_not_contains "$OUT_FILE" "listening on"

  run_cli 0 "$CLIENT_BIN" "$help"
  for flag in --config --host --port --log-dir --window --data-dir --file --out-dir --help; do
    assert_contains "$OUT_FILE" "$flag"
  done
  assert_not_contains "$OUT_FILE" "connected to"

  run_cli 0 "$GEN_BIN" "$help"
  for flag in --data-dir --chunks --bytes --seed --chunk-bytes --help; do assert_contains "$OUT_FILE" "$flag"; done
done
for f in "$SCRATCH"/* "$SCRATCH"/.[!.]*; do
  [[ -e $f ]] || continue
  [[ ${f##*/} =~ ^cli[0-9]+\.(out|err)$ ]] || fail "--help created ${f##*/}"
done

# Unknown flags: refused, named on stderr, nothing started.
run_cli nonzero "$SERVER_BIN" --port 0 --log-dir "$SCRATCH/logs" --bogus-flag
assert_contains "$ERR_FILE" "--bogus-flag"
assert_not_contains "$OUT_FILE" "listening on"
assert_absent "$SCRATCH/logs"
run_cli nonzero "$CLIENT_BIN" --port 1 --bogus-flag
assert_contains "$ERR_FILE" "--bogus-flag"
assert_not_contains "$OUT_FILE" "connected to"
run_cli nonzero "$GEN_BIN" --data-dir "$SCRATCH/gen-bogus" --chunks 1 --bogus-flag
assert_contains "$ERR_FILE" "--bogus-flag"
assert_absent "$SCRATCH/gen-bogus"
run_cli nonzero "$SERVER_BIN" stray-positional --port 0
assert_not_contains "$OUT_FILE" "listening on"

# Invalid values.
run_cli nonzero "$SERVER_BIN" --port 70000
assert_contains "$ERR_FILE" "--port"
assert_not_contains "$OUT_FILE" "listening on"
run_cli nonzero "$SERVER_BIN" --port 0 --window 0
assert_contains "$ERR_FILE" "--window"
assert_not_contains "$OUT_FILE" "listening on"
run_cli nonzero "$SERVER_BIN" --port 0 --config "$SCRATCH/no-such-config.json"
assert_contains "$ERR_FILE" "no-such-config.json"
assert_not_contains "$OUT_FILE" "listening on"
run_cli nonzero "$CLIENT_BIN" --port notanumber
assert_contains "$ERR_FILE" "--port"
run_cli nonzero "$GEN_BIN" --data-dir "$SCRATCH/gen-both" --chunks 1 --bytes 5
assert_absent "$SCRATCH/gen-both"
run_cli nonzero "$GEN_BIN" --data-dir "$SCRATCH/gen-none"
assert_absent "$SCRATCH/gen-none"

# The generator: exact sizes (partial and empty files included), one file per
# size, named A.file B.file ...; the same seed gives the same bytes.
run_cli 0 "$GEN_BIN" --data-dir "$SCRATCH/g1" --bytes 0 1 $((CHUNK + 1)) 5000 --seed 42
[[ $(ls "$SCRATCH/g1" | tr '\n' ' ') == "A.file B.file C.file D.file " ]] ||
  fail "gen wrote $(ls "$SCRATCH/g1"), expected A.file..D.file"
sizes=""
for id in A B C D; do sizes+="$(size_of "$SCRATCH/g1/$id.file") "; done
[[ $sizes == "0 1 $((CHUNK + 1)) 5000 " ]] || fail "gen --bytes sizes are $sizes"
run_cli 0 "$GEN_BIN" --data-dir "$SCRATCH/g2" --bytes 0 1 $((CHUNK + 1)) 5000 --seed 42
run_cli 0 "$GEN_BIN" --data-dir "$SCRATCH/g3" --bytes 0 1 $((CHUNK + 1)) 5000 --seed 43
for id in A B C D; do assert_same_file "$SCRATCH/g1/$id.file" "$SCRATCH/g2/$id.file"; done
! cmp -s "$SCRATCH/g1/C.file" "$SCRATCH/g3/C.file" || fail "gen --seed 42 and 43 wrote the same C.file"
! cmp -s "$SCRATCH/g1/C.file" "$SCRATCH/g1/D.file" 2>/dev/null ||
  fail "gen wrote identical content for different files"
run_cli 0 "$GEN_BIN" --data-dir "$SCRATCH/g4" --chunks 3 --chunk-bytes 1000
for id in A B C D; do
  [[ $(size_of "$SCRATCH/g4/$id.file") == 3000 ]] || fail "gen --chunks 3 --chunk-bytes 1000: $id.file is not 3000 bytes"
done
! cmp -s "$SCRATCH/g4/A.file" "$SCRATCH/g4/B.file" || fail "gen --chunks wrote identical A.file and B.file"

note "all checks passed"
