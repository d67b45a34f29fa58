#!/usr/bin/env bash
# Junk and slow connections (half-open, slowloris, random bytes, oversized
# lengths, connect-and-reset) never disturb the exchange (issue 4):
#   1. before the peers join: 100 junk connections for 3.5 s; afterwards the
#      four peers still join as A-D;
#   2. during the exchange: 500 junk connections for 8 s; the four peers
#      finish with every file verified, the server cuts every junk connection
#      and its RSS stays below 64 MiB.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLOOD_BIN=$CHUNKEX_BUILD_DIR/chunkex-flood
[[ -x $FLOOD_BIN ]] || fail "$FLOOD_BIN not built (CHUNKEX_BUILD_DIR=$CHUNKEX_BUILD_DIR)"

IDS=(A B C D)
DATA=$SCRATCH/data
LOGS=$SCRATCH/logs
OUT=$SCRATCH/out
remove_on_success "$DATA" "$OUT"

# 48000 rounds of 1 KiB chunks with --window 1: 8-17 s on a quiet 2-core VM
# (20-35 s on a slow one), at least twice the first half of the 8 s flood
# (after which client D is held until the flood ends), and only 64 MiB of
# input. The clients then get FINISH_S to end.
CHUNK_BYTES=1024
CHUNKS=16000
FINISH_S=60
FLOOD_SECONDS=8
FLOOD_CONNECTIONS=500
# Under AddressSanitizer (scripts/test-sanitize.sh sets CHUNKEX_SANITIZED)
# freed memory waits in a quarantine of up to 256 MiB, so the bound there only
# catches growth without limit. The exchange runs 2-4 times slower there, so
# 18000 rounds still outlast the flood's first half; 48000 took more than the
# 60 s left to them on a slow evening.
if [[ -n ${CHUNKEX_SANITIZED:-} ]]; then
  MAX_RSS_KIB=$((512 * 1024))
  CHUNKS=6000
  FINISH_S=120
else
  MAX_RSS_KIB=$((64 * 1024))
fi
"$GEN_BIN" --data-dir "$DATA" --chunks $CHUNKS --chunk-bytes $CHUNK_BYTES --seed 4 >/dev/null
# A short handshake deadline, so that junk holding a slot is cut quickly.
echo "{ \"chunk_bytes\": $CHUNK_BYTES, \"handshake_timeout_s\": 2 }" >"$SCRATCH/config.json"

# count_in FILE TEXT: lines of FILE holding TEXT (0 when none).
count_in() { grep -cF -- "$2" "$1" || true; }

# rss_kib KEY: the server's VmRSS or VmHWM in KiB, in REPLY (0 once it is gone).
rss_kib() {
  local key value rest
  REPLY=0
  { while read -r key value rest; do
    [[ $key == "$1:" ]] && REPLY=$value && break
  done <"/proc/$SERVER_PID/status"; } 2>/dev/null || true
}

# flood NAME CONNECTIONS SECONDS: runs chunkex-flood against the server.
flood() {
  start_bg "$1" "$FLOOD_BIN" --host 127.0.0.1 --port "$PORT" --connections "$2" \
    --seconds "$3" --seed 7 --report "$SCRATCH/$1.json"
}

# check_flood_report NAME CONNECTIONS: every connection was tried, reached the
# server and was closed by it (or by the flood itself: the resets) before
# the flood ended.
check_flood_report() {
  local report=$SCRATCH/$1.json
  assert_json "$report" connections_tried "$2"
  assert_json "$report" refused_or_failed 0
  assert_json "$report" still_open_at_end 0
}

start_server --config "$SCRATCH/config.json" --log-dir "$LOGS" --window 1

# --- 1. Junk before the peers join --------------------------------------
flood flood1 100 3.5
expect_exit flood1 0 15
check_flood_report flood1 100
json_value "$SCRATCH/flood1.json" given_a_slot
junk_slots=$REPLY
rejected_before=$(count_in "$SERVER_OUT" "[server] rejected a connection")
((rejected_before > 0)) || fail "the server rejected none of the early junk$(_tail_hint server)"
# Junk that held a slot must have given it back.
deadline_in 5
until (($(count_in "$SERVER_OUT" " joined (") == $(count_in "$SERVER_OUT" " is free"))); do
  past_deadline && fail "junk connections still hold client slots$(_tail_hint server)"
  sleep 0.05
done
note "before the exchange: 100 junk connections, $rejected_before rejected," \
  "$junk_slots held a slot until cut"

for id in "${IDS[@]}"; do
  start_peer "client$id" --data-dir "$DATA" --out-dir "$OUT" --log-dir "$LOGS" --window 1
  wait_for_text "$SCRATCH/client$id.out" "joined as client" 10 "$CLIENT_PID"
  assert_contains "$SCRATCH/client$id.out" "joined as client $id of 4"
done
wait_for_text "$SERVER_OUT" "[server] exchange started" 15 "$SERVER_PID"

# --- 2. Junk during the exchange ----------------------------------------
# Every connection is opened in the flood's first second or two, while chunks
# flow. Halfway through, client D is stopped (SIGSTOP) until the flood ends,
# so that the exchange is still live for the junk that lingers however fast
# this machine runs it.
_now_us; flood_start_us=$REPLY
flood flood2 $FLOOD_CONNECTIONS $FLOOD_SECONDS
peak_rss=0
held=0
while pid_alive "${PID_OF[flood2]}"; do
  rss_kib VmRSS
  ((REPLY > peak_rss)) && peak_rss=$REPLY
  _now_us
  if ((!held && REPLY - flood_start_us > FLOOD_SECONDS * 500000)); then
    if ! pid_alive "$SERVER_PID" || grep -qF "exchange complete" "$SERVER_OUT"; then
      fail "the exchange ended in the first half of the flood: make the workload bigger"
    fi
    kill -STOP "${PID_OF[clientD]}"
    held=1
  fi
  _check_budget "sampling the server's RSS"
  sleep 0.2
done
((held)) && kill -CONT "${PID_OF[clientD]}"
expect_exit flood2 0 5
_now_us; flood_ms=$(((REPLY - flood_start_us) / 1000))
((held)) || fail "the flood ended before it was half over (clock trouble?)"
if grep -qF "exchange complete" "$SERVER_OUT"; then
  fail "the exchange ended during the flood, though client D was stopped"
fi
for id in "${IDS[@]}"; do
  pid_alive "${PID_OF[client$id]}" || fail "client $id ended during the flood$(_tail_hint "client$id")"
done
# Still running, so VmHWM (the peak so far) covers the whole flood.
rss_kib VmHWM
((REPLY > peak_rss)) && peak_rss=$REPLY
((peak_rss > 0)) || fail "could not read the server's RSS"
((peak_rss < MAX_RSS_KIB)) || fail "server peak RSS $((peak_rss / 1024)) MiB, limit $((MAX_RSS_KIB / 1024)) MiB"

check_flood_report flood2 $FLOOD_CONNECTIONS
assert_json "$SCRATCH/flood2.json" given_a_slot 0

for id in "${IDS[@]}"; do expect_exit "client$id" 0 "$FINISH_S"; done
expect_exit server 0 15

assert_all_received "$DATA" "$OUT" "$LOGS"
assert_json "$LOGS/summary.json" success true
json_value "$LOGS/summary.json" rejected_connections
rejected=$REPLY
[[ $rejected == $(count_in "$SERVER_OUT" "[server] rejected a connection") ]] ||
  fail "summary.json says $rejected rejections, the console lists another number"
assert_contains "$SERVER_OUT" "connections rejected: $rejected"
((rejected - rejected_before > 0)) || fail "the server rejected none of the junk during the exchange"
for id in "${IDS[@]}"; do
  [[ ! -s $SCRATCH/client$id.err ]] || fail "client $id wrote to stderr: $(head -n 3 "$SCRATCH/client$id.err")"
done

note "during the exchange: $FLOOD_CONNECTIONS junk connections in ${flood_ms} ms," \
  "$((rejected - rejected_before)) rejected ($rejected in all), server peak RSS $((peak_rss / 1024)) MiB"
