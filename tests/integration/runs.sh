# shellcheck shell=bash
# Two real runs for the tests of chunkex-diff and chunkex-report: the same
# seeded files exchanged with the default costs and with C's chunk cost
# 10 ms instead of 8. Sourced after lib.sh:
#
#   source "$_LIB_DIR/runs.sh"
#   make_two_runs 20          # -> $BASE_LOGS, $C10_LOGS (and $DATA)

# Variables set here are used by the tests that source this file.
# shellcheck disable=SC2034

DIFF_BIN=$CHUNKEX_BUILD_DIR/chunkex-diff
REPORT_BIN=$CHUNKEX_BUILD_DIR/chunkex-report
for bin in "$DIFF_BIN" "$REPORT_BIN"; do
  [[ -x $bin ]] || fail "$bin not built (CHUNKEX_BUILD_DIR=$CHUNKEX_BUILD_DIR)"
done

# config_with_c_chunk MS FILE: configs/default.json with C's chunk cost MS.
config_with_c_chunk() {
  sed -E "s/(\"C\": \\{ \"chunk\": )[0-9.]+/\\1$1/" \
    "$CHUNKEX_SOURCE_DIR/configs/default.json" >"$2"
  grep -q "\"C\": { \"chunk\": $1," "$2" || fail "could not set C's chunk cost in $2"
}

# run_exchange_into NAME CONFIG: server + 4 clients on $DATA, logs in
# $SCRATCH/NAME/logs.
run_exchange_into() {
  local name=$1 config=$2 id
  SERVER_NAME=$name-server start_server --config "$config" --log-dir "$SCRATCH/$name/logs"
  start_four_peers "$name" "$DATA" "$SCRATCH/$name" --config "$config"
  for id in A B C D; do expect_exit "$name-$id" 0 60; done
  expect_exit "$name-server" 0 10
  remove_on_success "$SCRATCH/$name/out"
}

# make_two_runs CHUNKS: both runs on files of CHUNKS chunks each.
make_two_runs() {
  DATA=$SCRATCH/data
  "$GEN_BIN" --data-dir "$DATA" --chunks "$1" --seed 3 >/dev/null
  remove_on_success "$DATA"
  config_with_c_chunk 10 "$SCRATCH/c10.json"
  run_exchange_into base "$CHUNKEX_SOURCE_DIR/configs/default.json"
  run_exchange_into c10 "$SCRATCH/c10.json"
  BASE_LOGS=$SCRATCH/base/logs
  C10_LOGS=$SCRATCH/c10/logs
}

# messages_in_rounds LOGDIR FROM TO: the messages of rounds FROM..TO as the
# server's log records them (every message passes through the server, which
# logs each request, IDLE and CHUNK_DATA it receives and each forward and
# SEND_CHUNK it sends). Independent of chunkex's own parser.
messages_in_rounds() {
  awk -v from="$2" -v to="$3" '
    match($0, /\(round [0-9]+\)$/) {
      round = substr($0, RSTART + 7, RLENGTH - 8) + 0
      if (round < from || round > to) next
      if ($3 == "REQUEST_CHUNK" || $3 == "IDLE" || $3 == "CHUNK_DATA" || $3 == "SEND_CHUNK" ||
          ($3 == "forward" && $4 == "REQUEST_CHUNK")) n++
    }
    END { print n + 0 }' "$1/Server.txt"
}
