# Shared helpers for the chunkex integration tests. Every test_*.sh sources
# this file first:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Environment (set by tests/CMakeLists.txt; defaults allow running a script by
# hand from anywhere):
#   CHUNKEX_BUILD_DIR   where chunkex-server, chunkex-client, chunkex-gen live
#   CHUNKEX_SOURCE_DIR  the source tree
#   CHUNKEX_SCRATCH     private scratch directory, wiped and recreated here
#
# Rules the helpers enforce: every process runs in the background with its
# output in the scratch directory and is killed on exit, whatever happens;
# every wait is bounded; servers listen on 127.0.0.1 with port 0 (the OS picks
# a free port). Only bash, coreutils and awk are required; python3 is used for
# JSON when present (set CHUNKEX_TEST_NO_PYTHON=1 to exercise the fallback).

# Variables set here are used by the tests that source this file.
# shellcheck disable=SC2034

set -euo pipefail
set -o errtrace

_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=$(basename "$0" .sh)
TEST_NAME=${TEST_NAME#test_}

: "${CHUNKEX_SOURCE_DIR:=$(cd "$_LIB_DIR/../.." && pwd)}"
: "${CHUNKEX_BUILD_DIR:=$CHUNKEX_SOURCE_DIR/build}"
: "${CHUNKEX_SCRATCH:=${TMPDIR:-/tmp}/chunkex-it-$TEST_NAME}"

SERVER_BIN=$CHUNKEX_BUILD_DIR/chunkex-server
CLIENT_BIN=$CHUNKEX_BUILD_DIR/chunkex-client
GEN_BIN=$CHUNKEX_BUILD_DIR/chunkex-gen
SCRATCH=$CHUNKEX_SCRATCH
CHUNK=131072   # default chunk size (docs/DESIGN.md §1)

if [[ -z ${CHUNKEX_TEST_NO_PYTHON:-} ]] && command -v python3 >/dev/null 2>&1; then
  HAVE_PYTHON=1
else
  HAVE_PYTHON=0
fi

# ---------------------------------------------------------------- failing ---

# fail MESSAGE...: report and end the test (the EXIT trap cleans up).
fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  exit 1
}

note() { echo "[$TEST_NAME] $*"; }

_on_err() {
  local status=$? line=$1 command=$2
  [[ $BASHPID == "$$" ]] || return 0 # a background child before its exec
  echo "FAIL [$TEST_NAME]: command failed (status $status) at ${BASH_SOURCE[1]:-?}:$line: $command" >&2
}
trap '_on_err "$LINENO" "$BASH_COMMAND"' ERR

# ------------------------------------------------------------------- time ---

# _now_us: microseconds since the epoch, in REPLY (no fork).
_now_us() { REPLY=${EPOCHREALTIME//[.,]/}; }

# _to_us SECONDS: "10", "2.5" -> microseconds, in REPLY.
_to_us() {
  local s=$1 int frac
  int=${s%%.*}
  if [[ $s == *.* ]]; then frac=${s#*.}000000; frac=${frac:0:6}; else frac=000000; fi
  REPLY=$((10#${int:-0} * 1000000 + 10#$frac))
}

# The whole test must end well inside CTest's 180 s timeout, so that its own
# cleanup and diagnostics run: every wait loop checks this budget too.
_now_us
TEST_END_US=$((REPLY + ${CHUNKEX_TEST_BUDGET_S:-150} * 1000000))
_check_budget() {
  _now_us
  ((REPLY < TEST_END_US)) ||
    fail "the test ran past its ${CHUNKEX_TEST_BUDGET_S:-150} s budget (while: $1)"
}

# deadline_in SECONDS: sets DEADLINE_US; remaining_s prints what is left.
deadline_in() {
  local now
  _now_us; now=$REPLY
  _to_us "$1"
  DEADLINE_US=$((now + REPLY))
}
past_deadline() {
  _check_budget "a bounded wait"
  _now_us
  ((REPLY >= DEADLINE_US))
}
# remaining_s: whole-and-fraction seconds until DEADLINE_US (never negative).
remaining_s() {
  _now_us
  local left=$((DEADLINE_US - REPLY))
  ((left < 0)) && left=0
  printf '%d.%06d\n' $((left / 1000000)) $((left % 1000000))
}

# ------------------------------------------------------------- processes ---

declare -a BG_PIDS=()
declare -A NAME_OF_PID=()
declare -A PID_OF=()
declare -A EXIT_OF_PID=()

# pid_alive PID: true while the process runs (a zombie counts as dead).
pid_alive() {
  local stat
  read -r stat 2>/dev/null </proc/"$1"/stat || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

# start_bg NAME COMMAND...: run in the background, stdout/stderr to
# $SCRATCH/NAME.out / NAME.err; the pid is in LAST_PID and PID_OF[NAME].
start_bg() {
  local name=$1
  shift
  [[ -z ${PID_OF[$name]:-} ]] || fail "internal: process name '$name' used twice"
  (
    trap - EXIT ERR INT TERM HUP
    exec "$@"
  ) >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err" &
  LAST_PID=$!
  BG_PIDS+=("$LAST_PID")
  NAME_OF_PID[$LAST_PID]=$name
  PID_OF[$name]=$LAST_PID
}

_stop_pid() {
  local pid=$1 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# wait_pid_within PID SECONDS: waits for PID to end and returns its exit code
# (also left in WAIT_RC). Still running after SECONDS: the process is killed
# and the test fails. Under set -e call it as `wait_pid_within P S || true`;
# usually expect_exit / expect_failure_exit below are handier.
wait_pid_within() {
  local pid=$1 secs=$2 name=${NAME_OF_PID[$1]:-pid $1} deadline
  if [[ -n ${EXIT_OF_PID[$pid]:-} ]]; then
    WAIT_RC=${EXIT_OF_PID[$pid]}
    return "$WAIT_RC"
  fi
  _now_us; deadline=$REPLY
  _to_us "$secs"; deadline=$((deadline + REPLY))
  while pid_alive "$pid"; do
    _now_us
    if ((REPLY >= deadline)); then
      _stop_pid "$pid"
      fail "$name (pid $pid) still running after ${secs}s"
    fi
    _check_budget "waiting for $name to exit"
    sleep 0.05
  done
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  EXIT_OF_PID[$pid]=$rc
  WAIT_RC=$rc
  return "$rc"
}

# expect_exit NAME CODE SECONDS: NAME (a start_bg name) exits with CODE.
expect_exit() {
  local name=$1 want=$2 secs=$3
  wait_pid_within "${PID_OF[$name]}" "$secs" || true
  [[ $WAIT_RC == "$want" ]] ||
    fail "$name exited with $WAIT_RC, expected $want$(_tail_hint "$name")"
}

# expect_failure_exit NAME SECONDS: NAME exits with 1 (a clean, reported
# failure: neither 0 nor a signal/crash code). Returns the code in WAIT_RC.
expect_failure_exit() {
  local name=$1 secs=$2
  wait_pid_within "${PID_OF[$name]}" "$secs" || true
  [[ $WAIT_RC != 0 ]] || fail "$name exited with 0, expected a failure$(_tail_hint "$name")"
  [[ $WAIT_RC == 1 ]] || fail "$name exited with $WAIT_RC (crash or signal?), expected 1$(_tail_hint "$name")"
}

_tail_hint() {
  local name=$1
  printf '\n--- %s.out (tail)\n%s\n--- %s.err (tail)\n%s' \
    "$name" "$(tail -n 15 "$SCRATCH/$name.out" 2>/dev/null)" \
    "$name" "$(tail -n 15 "$SCRATCH/$name.err" 2>/dev/null)"
}

# start_server ARGS...: runs chunkex-server on 127.0.0.1, port 0, plus ARGS,
# as process SERVER_NAME (default "server"). Waits up to 10 s for the first
# stdout line `listening on 127.0.0.1:PORT`; exports SERVER_PID and PORT.
start_server() {
  local name=${SERVER_NAME:-server} first
  start_bg "$name" "$SERVER_BIN" --host 127.0.0.1 --port 0 "$@"
  SERVER_PID=$LAST_PID
  SERVER_OUT=$SCRATCH/$name.out
  SERVER_ERR=$SCRATCH/$name.err
  local until_us
  _now_us; until_us=$((REPLY + 10000000))
  # A complete first line (newline included), so a half-written port is never read.
  until [[ -s $SERVER_OUT ]] && [[ $(head -c 4096 "$SERVER_OUT" | wc -l) -ge 1 ]]; do
    pid_alive "$SERVER_PID" ||
      fail "$name exited before listening$(_tail_hint "$name")"
    _now_us; ((REPLY < until_us)) || fail "$name printed no 'listening on' line within 10 s$(_tail_hint "$name")"
    _check_budget "waiting for $name to listen"
    sleep 0.02
  done
  first=$(head -n 1 "$SERVER_OUT")
  [[ $first =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] ||
    fail "$name: first stdout line is '$first', expected 'listening on 127.0.0.1:PORT'"
  PORT=${BASH_REMATCH[1]}
  ((PORT > 0 && PORT < 65536)) || fail "$name: bad port $PORT"
  export SERVER_PID PORT SERVER_OUT SERVER_ERR
}

# start_client NAME ARGS...: runs chunkex-client ARGS (verbatim) in the
# background; output in $SCRATCH/NAME.out/.err, pid in CLIENT_PID/PID_OF[NAME].
start_client() {
  local name=$1
  shift
  start_bg "$name" "$CLIENT_BIN" "$@"
  CLIENT_PID=$LAST_PID
}

# start_peer NAME ARGS...: start_client connected to the current server.
start_peer() {
  local name=$1
  shift
  start_client "$name" --host 127.0.0.1 --port "$PORT" "$@"
}

# wait_for_text FILE TEXT SECONDS [PID...]: waits until FILE contains TEXT
# (fixed string). Fails after SECONDS, or at once if one of PIDs has ended
# and TEXT is still absent.
wait_for_text() {
  local file=$1 text=$2
  shift 2
  wait_for_count "$file" "$text" 1 "$@"
}

# _count_lines FILE TEXT: how many lines of FILE hold TEXT (0 if no FILE).
_count_lines() {
  local n
  n=$(grep -cF -- "$2" "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

# wait_for_count FILE TEXT N SECS [PID...]: until FILE holds N lines with TEXT.
wait_for_count() {
  local file=$1 text=$2 count=$3 secs=$4 until_us
  shift 4
  _now_us; until_us=$REPLY
  _to_us "$secs"; until_us=$((until_us + REPLY))
  while (($(_count_lines "$file" "$text") < count)); do
    local pid
    for pid in "$@"; do
      if ! pid_alive "$pid" && (($(_count_lines "$file" "$text") < count)); then
        fail "${NAME_OF_PID[$pid]:-pid $pid} ended before '$text' appeared ${count}x in $file$(_tail_hint "${NAME_OF_PID[$pid]:-x}")"
      fi
    done
    _now_us; ((REPLY < until_us)) || fail "'$text' did not appear ${count}x in $file within ${secs}s"
    _check_budget "waiting for '$text'"
    sleep 0.02
  done
}

# ---------------------------------------------------------------- cleanup ---

# remove_on_success PATH...: big inputs and outputs to delete once the test
# has passed (on failure everything stays in the scratch dir for a look).
declare -a REMOVE_ON_SUCCESS=()
remove_on_success() { REMOVE_ON_SUCCESS+=("$@"); }

_cleanup() {
  local rc=$?
  # A signal can reach a background child between fork and exec, while it
  # still has these traps: it must only exit, never clean up.
  [[ $BASHPID == "$$" ]] || exit "$rc"
  set +e
  trap - ERR
  local pid i comm own_comm
  read -r own_comm </proc/$$/comm
  for pid in "${BG_PIDS[@]}"; do
    # Just forked and not yet exec'd: give it a moment to become the program.
    for ((i = 0; i < 20; i++)); do
      read -r comm 2>/dev/null </proc/"$pid"/comm || break
      [[ $comm == "$own_comm" ]] || break
      sleep 0.01
    done
    pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  for ((i = 0; i < 60; i++)); do
    local any=0
    for pid in "${BG_PIDS[@]}"; do pid_alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.05
  done
  for pid in "${BG_PIDS[@]}"; do
    if pid_alive "$pid"; then
      echo "[$TEST_NAME] cleanup: ${NAME_OF_PID[$pid]} (pid $pid) ignored SIGTERM; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if ((rc == 0)); then
    local path
    for path in "${REMOVE_ON_SUCCESS[@]}"; do rm -rf -- "$path"; done
  fi
  if ((rc != 0)) && [[ -d $SCRATCH ]]; then
    echo "==== [$TEST_NAME] failed (status $rc); process output in $SCRATCH:" >&2
    local f
    for f in "$SCRATCH"/*.out "$SCRATCH"/*.err; do
      [[ -s $f ]] || continue
      echo "---- ${f#"$SCRATCH"/} (last 20 lines)" >&2
      tail -n 20 "$f" >&2
    done
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------------ files ---

assert_same_file() {
  local expected=$1 actual=$2
  [[ -f $actual ]] || fail "missing file $actual"
  cmp -s -- "$expected" "$actual" ||
    fail "$actual differs from $expected: $(cmp -- "$expected" "$actual" 2>&1 | head -n 1)"
}

# assert_all_received DATA OUT [LOGS]: each of A..D holds every other peer's
# input file from DATA, byte for byte, under its final name in OUT; with
# LOGS, the server's summary.json also records each of them as verified.
assert_all_received() {
  local data=$1 out=$2 logs=${3:-} id peer
  for id in A B C D; do
    for peer in A B C D; do
      [[ $id == "$peer" ]] && continue
      assert_same_file "$data/$peer.file" "$out/${id}_${peer}_complete.file"
      [[ -z $logs ]] || assert_json "$logs/summary.json" "received.$id.$peer" verified
    done
  done
}

assert_exists() { [[ -e $1 ]] || fail "expected file $1 is missing${2:+ ($2)}"; }
assert_absent() { [[ ! -e $1 ]] || fail "file $1 should not exist${2:+ ($2)}"; }

assert_contains() {
  local file=$1 text=$2
  grep -qF -- "$text" "$file" 2>/dev/null ||
    fail "$file does not contain '$text'; it has:
$(tail -n 20 "$file" 2>/dev/null)"
}

assert_not_contains() {
  local file=$1 text=$2
  if grep -qF -- "$text" "$file" 2>/dev/null; then
    fail "$file contains '$text': $(grep -F -- "$text" "$file" | head -n 3)"
  fi
}

# count_files DIR GLOB: number of entries in DIR matching GLOB.
count_files() {
  local dir=$1 glob=$2 n=0 f
  for f in "$dir"/$glob; do [[ -e $f ]] && n=$((n + 1)); done
  echo "$n"
}

last_line() { tail -n 1 -- "$1"; }

# final_clocks_of LOGFILE: the "A=.. B=.." part of the file's last line,
# which must be its `final clocks` line.
final_clocks_of() {
  local line
  line=$(last_line "$1")
  [[ $line == *"final clocks "* ]] || fail "last line of $1 is not a final clocks line: '$line'"
  echo "${line#*final clocks }"
}

# ms_to_us TEXT: "346.5" -> 346500 (log clock format, exact).
ms_to_us() {
  local s=$1 int frac
  int=${s%%.*}
  if [[ $s == *.* ]]; then frac=${s#*.}000; frac=${frac:0:3}; else frac=000; fi
  echo $((10#$int * 1000 + 10#$frac))
}

# us_to_ms US: the log's clock format (docs/DESIGN.md §3: milliseconds, shortest
# exact decimal with at least one fraction digit).
us_to_ms() {
  local us=$1 frac
  frac=$(printf '%03d' $((us % 1000)))
  while [[ ${#frac} -gt 1 && $frac == *0 ]]; do frac=${frac%0}; done
  echo "$((us / 1000)).$frac"
}

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }
size_of() { stat -c %s -- "$1"; }

# -------------------------------------------------------------------- JSON ---

# json_get FILE KEY.PATH: prints a scalar (strings without quotes; true/false
# as JSON; "<missing>" when absent, "<object>" for objects and arrays). The
# file is read once (python3, or an awk reader of the pretty-printed summary)
# into JSON_VALUES, and again only when it changes.
declare -A JSON_VALUES=()
JSON_LOADED=""

json_load() {
  local file=$1 stamp flat key value
  [[ -s $file ]] || fail "JSON file $file is missing or empty"
  stamp="$file $(stat -c '%Y.%s.%i' -- "$file")"
  [[ $stamp == "$JSON_LOADED" ]] && return 0
  JSON_VALUES=()
  if ((HAVE_PYTHON)); then
    flat=$(python3 -c '
import json, sys
def walk(prefix, value):
    if isinstance(value, dict):
        if prefix: print(prefix + "\t<object>")
        for key, item in value.items(): walk(prefix + "." + key if prefix else key, item)
    elif isinstance(value, list): print(prefix + "\t<object>")
    elif isinstance(value, bool): print(prefix + "\t" + ("true" if value else "false"))
    elif value is None: print(prefix + "\tnull")
    else: print(prefix + "\t" + str(value).replace("\n", " "))
walk("", json.load(open(sys.argv[1])))
' "$file") || fail "cannot read $file as JSON"
  else
    flat=$(awk '
      function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t,]+$/, "", s); return s }
      /^[ ]*"[^"]*": / {
        indent = match($0, /[^ ]/) - 1; depth = int(indent / 2)
        line = $0; sub(/^[ ]*"/, "", line); key = line; sub(/".*/, "", key)
        value = line; sub(/^[^"]*": /, "", value); value = trim(value)
        stack[depth] = key; full = stack[1]
        for (i = 2; i <= depth; i++) full = full "." stack[i]
        if (value == "{" || value == "[" || value == "{}" || value == "[]") value = "<object>"
        else if (value ~ /^".*"$/) value = substr(value, 2, length(value) - 2)
        print full "\t" value
      }' "$file")
  fi
  while IFS=$'\t' read -r key value; do
    [[ -n $key ]] && JSON_VALUES[$key]=$value
  done <<<"$flat"
  JSON_LOADED=$stamp
}

json_get() {
  json_load "$1"
  echo "${JSON_VALUES[$2]-<missing>}"
}

# json_value FILE KEY.PATH: like json_get, but the value goes to REPLY
# (no subshell, so the file is parsed only once).
json_value() {
  json_load "$1"
  REPLY=${JSON_VALUES[$2]-<missing>}
}

# assert_json FILE KEY.PATH EXPECTED
assert_json() {
  json_load "$1"
  local got=${JSON_VALUES[$2]-<missing>}
  [[ $got == "$3" ]] || fail "$1: $2 is '$got', expected '$3'"
}

# --------------------------------------------------------------- the model ---

# model_final FILE_SIZES_CSV CHUNK_BYTES COSTS_US: runs docs/DESIGN.md §2 and §3
# independently of the C++ code. COSTS_US is "chunkA:otherA,chunkB:otherB,..."
# in microseconds. Prints "ROUNDS A_us B_us ...".
model_final() {
  awk -v sizes="$1" -v chunk_bytes="$2" -v costs="$3" 'BEGIN {
    n = split(sizes, size, ",")
    split(costs, pairs, ",")
    for (i = 0; i < n; i++) {
      count[i] = int((size[i + 1] + chunk_bytes - 1) / chunk_bytes)
      split(pairs[i + 1], cost, ":"); chunk[i] = cost[1]; other[i] = cost[2]
      clock[i] = 0
      for (j = 0; j < n; j++) have[i, j] = 0
    }
    for (round = 0; ; round++) {
      base = round % (n - 1); busy = 0
      for (i = 0; i < n; i++) {
        target[i] = -1
        for (k = 0; k < n - 1; k++) {
          t = (i + 1 + (base + k) % (n - 1)) % n
          if (have[i, t] < count[t]) { target[i] = t; busy = 1; break }
        }
      }
      if (!busy) break
      for (i = 0; i < n; i++) if (target[i] >= 0) clock[i] += other[i]
      sync_all()
      for (q = 0; q < n; q++) if (target[q] >= 0) { t = target[q]; clock[t] += other[t] + chunk[t] }
      sync_all()
      for (q = 0; q < n; q++) if (target[q] >= 0) { clock[q] += chunk[q]; have[q, target[q]]++ }
    }
    out = round
    for (i = 0; i < n; i++) out = out " " sprintf("%.0f", clock[i])
    print out
  }
  function sync_all(   i, m) {
    m = 0
    for (i = 0; i < n; i++) if (clock[i] > m) m = clock[i]
    for (i = 0; i < n; i++) clock[i] = m
  }'
}

# model_clocks_text "ROUNDS A B C D": the log's "A=.. B=.. C=.. D=.." text.
model_clocks_text() {
  local -a parts
  read -r -a parts <<<"$1"
  local i text="" letters=ABCDEFGHIJKLMNOPQRSTUVWXYZ
  for ((i = 1; i < ${#parts[@]}; i++)); do
    text+="${text:+ }${letters:i-1:1}=$(us_to_ms "${parts[i]}")"
  done
  echo "$text"
}

DEFAULT_COSTS_US="6000:600,7000:700,8000:800,9000:900"

# --------------------------------------------------------------- raw TCP ---

# raw_exchange PORT BYTES_PRINTF OUTFILE SECONDS: connects to 127.0.0.1:PORT,
# sends printf-formatted BYTES, reads until the server closes. Returns 0 when
# the server closed the connection within SECONDS, 124 on timeout, else the
# reader's status. Uses bash /dev/tcp only.
raw_exchange() {
  local port=$1 bytes=$2 out=$3 secs=$4 rc=0
  timeout -k 2 "$secs" bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 3
    printf "$2" >&3 || exit 4
    cat <&3' raw "$port" "$bytes" >"$out" 2>"$out.err" || rc=$?
  return "$rc"
}

# ---------------------------------------------------------------- scratch ---

_prepare_scratch() {
  [[ -n $SCRATCH && $SCRATCH != / && $SCRATCH == /*/* ]] ||
    fail "refusing to use '$SCRATCH' as scratch directory"
  rm -rf -- "$SCRATCH"
  mkdir -p -- "$SCRATCH"
  for bin in "$SERVER_BIN" "$CLIENT_BIN" "$GEN_BIN"; do
    [[ -x $bin ]] || fail "$bin not built (CHUNKEX_BUILD_DIR=$CHUNKEX_BUILD_DIR)"
  done
}
_prepare_scratch
cd "$SCRATCH"

# ------------------------------------------------------ faults and resume ---

# start_four_peers TAG DATA DIR ARGS...: clients TAG-A..TAG-D started one after
# another (so that each gets the ID of its name), sharing DATA, DIR/out and
# DIR/logs, with ARGS.
start_four_peers() {
  local tag=$1 data=$2 dir=$3 id
  shift 3
  for id in A B C D; do
    start_peer "$tag-$id" --data-dir "$data" --out-dir "$dir/out" --log-dir "$dir/logs" "$@"
    wait_for_text "$SERVER_OUT" "client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
  done
}

# run_reference_exchange DATA CONFIG: the exchange without any fault, its logs
# in $SCRATCH/ref/logs, for a faulty run to be compared with.
run_reference_exchange() {
  local data=$1 config=$2 id
  SERVER_NAME=ref-server start_server --config "$config" --log-dir "$SCRATCH/ref/logs"
  start_four_peers ref "$data" "$SCRATCH/ref" --config "$config" --window 8
  for id in A B C D; do expect_exit "ref-$id" 0 60; done
  expect_exit ref-server 0 10
}

# The log lines that record a peer leaving and coming back, or a server
# restarting: a run with faults equals a run without once they are removed.
RESUME_LINE_PATTERN='disconnected: exchange paused|reconnected: it has completed|exchange resumed at round|resumed after round|server restarted: resuming'

# assert_logs_equal_but_resume_lines REF_LOGS LOGS: every log file equal.
assert_logs_equal_but_resume_lines() {
  local ref=$1 logs=$2 name
  for name in Server.txt ClientA.txt ClientB.txt ClientC.txt ClientD.txt; do
    assert_exists "$logs/$name"
    if ! cmp -s <(grep -Ev "$RESUME_LINE_PATTERN" "$ref/$name") \
      <(grep -Ev "$RESUME_LINE_PATTERN" "$logs/$name"); then
      diff <(grep -Ev "$RESUME_LINE_PATTERN" "$ref/$name") \
        <(grep -Ev "$RESUME_LINE_PATTERN" "$logs/$name") | head -n 20 >&2 || true
      fail "$logs/$name differs from the uninterrupted run beyond the resume lines"
    fi
  done
}

# wait_for_rounds LOG N SECONDS: until the server log has delivered round N.
wait_for_rounds() {
  wait_for_text "$1" "(round $2)" "$3" "$SERVER_PID"
}

# ----------------------------------------------------------- small disks ---

# can_mount_small_disk: true when this test may mount a tmpfs in a private
# mount namespace (root with unshare); tests of a full disk skip otherwise.
can_mount_small_disk() {
  command -v unshare >/dev/null 2>&1 || return 1
  local probe=$SCRATCH/.mount-probe
  mkdir -p "$probe"
  unshare -m --propagation private mount -t tmpfs -o size=64k chunkex-probe "$probe" 2>/dev/null
}

# small_disk_wrapper NAME SIZE DIR COPY PROGRAM: writes $SCRATCH/NAME, an
# executable that runs PROGRAM (with its own arguments) with DIR on a tmpfs
# of SIZE of its own (small_disk.sh); what DIR held is copied to COPY once
# PROGRAM has exited. Use it as SERVER_BIN or CLIENT_BIN.
small_disk_wrapper() {
  local name=$1 size=$2 dir=$3 copy=$4 program=$5
  mkdir -p "$dir"
  printf '#!/bin/bash\nexec unshare -m --propagation private bash %q %q %q %q %q "$@"\n' \
    "$_LIB_DIR/small_disk.sh" "$size" "$dir" "$copy" "$program" >"$SCRATCH/$name"
  chmod +x "$SCRATCH/$name"
}

# gen_equal_files DIR CHUNK_BYTES CHUNKS SEED: files A..D of CHUNKS chunks
# each in DIR; their size in bytes is left in FILE_BYTES.
gen_equal_files() {
  FILE_BYTES=$(($2 * $3))
  "$GEN_BIN" --data-dir "$1" --bytes $FILE_BYTES $FILE_BYTES $FILE_BYTES $FILE_BYTES --seed "$4" >/dev/null
}

# exchange_until_round NAME DIR ROUND DATA CONFIG ARGS...: a server named NAME
# (logs in DIR/logs) and four peers NAME-A..NAME-D with ARGS
# (start_four_peers), running until round ROUND is delivered.
exchange_until_round() {
  local name=$1 dir=$2 round=$3 data=$4 config=$5
  shift 5
  SERVER_NAME=$name start_server --config "$config" --log-dir "$dir/logs"
  start_four_peers "$name" "$data" "$dir" --config "$config" "$@"
  wait_for_rounds "$dir/logs/Server.txt" "$round" 20
}
