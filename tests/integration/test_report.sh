#!/usr/bin/env bash
# chunkex-report in a real browser: Debian's chromium, headless, opens the
# report of one run and of two runs. The page must draw without a single
# console message (it logs nothing when all is well), draw exactly one arrow
# per message of the chosen rounds (counted here from Server.txt alone), hold
# the first differing round of two runs side by side, and fetch nothing. A
# screenshot is kept as an artifact (its path is printed).
#
# chromium is installed here when missing (apt-get, as root or with
# passwordless sudo). Only when that is impossible does the test say SKIP
# and pass; that happens before the test's time budget starts.

# ------------------------------------------------------------ chromium ---
find_chromium() { command -v chromium || command -v chromium-browser || true; }
if [[ -z $(find_chromium) ]]; then
  echo "[report] chromium is missing: installing Debian's chromium with apt-get (a few minutes)"
  sudo=""
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "[report] SKIP: chromium is not installed, and neither root nor passwordless sudo can install it"
      exit 0
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "[report] SKIP: chromium is not installed and there is no apt-get to install it"
    exit 0
  fi
  install_log=$(mktemp)
  # CI runs the suite twice side by side (plain and sanitized): the second
  # installer waits for the first one's lock instead of failing.
  apt_wait=(-o DPkg::Lock::Timeout=600)
  if ! { DEBIAN_FRONTEND=noninteractive $sudo apt-get "${apt_wait[@]}" update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get "${apt_wait[@]}" install -y -qq \
      --no-install-recommends chromium; } \
    >"$install_log" 2>&1; then
    echo "[report] SKIP: chromium is not installed and 'apt-get install chromium' failed:"
    tail -n 5 "$install_log"
    rm -f "$install_log"
    exit 0
  fi
  rm -f "$install_log"
fi
CHROMIUM=$(find_chromium)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$_LIB_DIR/runs.sh"
[[ -n $CHROMIUM ]] || fail "apt-get installed chromium, but no chromium is on PATH ($PATH)"
note "browser: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"

make_two_runs 20

# browse NAME PAGE ARGS...: headless chromium on PAGE with ARGS (--dump-dom,
# --screenshot=...), its console in $SCRATCH/NAME.err; fails on any console
# message. A private profile, so nothing of the user's is touched.
browse() {
  local name=$1 page=$2
  shift 2
  start_bg "$name" "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --user-data-dir="$SCRATCH/profile-$name" --enable-logging=stderr --v=0 \
    "$@" "file://$page"
  wait_pid_within "${PID_OF[$name]}" 90 || true
  [[ $WAIT_RC == 0 ]] || fail "chromium exited $WAIT_RC on $page$(_tail_hint "$name")"
  if grep -F ':CONSOLE' "$SCRATCH/$name.err"; then
    fail "the page wrote to the browser console (above): $page"
  fi
}

# dom_attribute DOM NAME: the value of body attribute NAME in a dumped DOM.
dom_attribute() {
  grep -o "$2=\"[^\"]*\"" "$1" | head -n 1 | cut -d'"' -f2
}

# The page needs nothing from the network: no external script, style,
# image, font or request of any kind.
assert_self_contained() {
  local page=$1 pattern urls
  for pattern in '<link' ' src=' '@import' 'url\([^#]' 'fetch\(' 'XMLHttpRequest' 'import\('; do
    if grep -Eq -- "$pattern" "$page"; then
      fail "$page refers to something outside itself ($pattern): $(grep -Eo -- ".{0,40}$pattern.{0,40}" "$page" | head -n 2)"
    fi
  done
  # The one address allowed is SVG's namespace name, which is never fetched.
  urls=$(grep -Eo '[a-z]+://[^"'"'"' )<]*' "$page" | grep -vx 'http://www.w3.org/2000/svg' || true)
  [[ -z $urls ]] || fail "$page refers to addresses outside itself: $(head -n 3 <<<"$urls")"
}

# ------------------------------------------------------- one run, 2-4 ---
"$REPORT_BIN" "$BASE_LOGS" -o "$SCRATCH/one.html" --rounds 2-4 >"$SCRATCH/one.out" ||
  fail "chunkex-report failed: $(cat "$SCRATCH/one.out")"
assert_contains "$SCRATCH/one.out" "report written to $SCRATCH/one.html"
assert_self_contained "$SCRATCH/one.html"
browse one-dom "$SCRATCH/one.html" --dump-dom
cp "$SCRATCH/one-dom.out" "$SCRATCH/one.dom"
[[ $(dom_attribute "$SCRATCH/one.dom" data-status) == ok ]] ||
  fail "the page did not finish drawing: status '$(dom_attribute "$SCRATCH/one.dom" data-status)'"
want=$(messages_in_rounds "$BASE_LOGS" 2 4)
drawn=$(grep -o 'class="msg[^"]*" data-view="main" data-run="0"' "$SCRATCH/one.dom" | wc -l)
((want == 48)) || fail "Server.txt holds $want messages in rounds 2-4; 4 peers x 4 messages x 3 rounds is 48"
((drawn == want)) || fail "rounds 2-4: $drawn arrows drawn, the logs hold $want messages"
for type in REQUEST_CHUNK forward CHUNK_DATA SEND_CHUNK; do
  count=$(grep -o "class=\"msg[^\"]*\" data-view=\"main\" data-run=\"0\" data-type=\"$type\"" "$SCRATCH/one.dom" | wc -l)
  ((count == 12)) || fail "rounds 2-4: $count $type arrows, expected 12"
done
assert_contains "$SCRATCH/one.dom" ">round 3</text>"
assert_not_contains "$SCRATCH/one.dom" ">before round 0</text>"
note "one run, rounds 2-4: $drawn arrows for $want messages; ready $(dom_attribute "$SCRATCH/one.dom" data-ready-ms) ms after navigation"

# The window moves in the page (here by its address) within the rounds the
# page carries, and the page says which rounds asked for it does not carry:
# with 1500 events, rounds 0-1 and then about 40 more.
"$REPORT_BIN" "$BASE_LOGS" -o "$SCRATCH/small.html" --rounds 0-1 --page-events 1500 >/dev/null ||
  fail "chunkex-report --page-events 1500 failed"
browse small-dom "$SCRATCH/small.html#rounds=30-31,50-51" --dump-dom
[[ $(dom_attribute "$SCRATCH/small-dom.out" data-status) == ok ]] || fail "the small page did not finish drawing"
drawn=$(grep -o 'class="msg[^"]*" data-view="main" data-run="0"' "$SCRATCH/small-dom.out" | wc -l)
want=$(messages_in_rounds "$BASE_LOGS" 30 31)
((drawn == want && want == 32)) || fail "rounds 30-31 (moved in the page): $drawn arrows drawn, the logs hold $want"
grep -q 'id="notice"[^>]*>[^<]*2 of the rounds asked for are not in this page (round 50, round 51); the page holds at most 1500 events per run and that cap was reached' \
  "$SCRATCH/small-dom.out" ||
  fail "no notice that rounds 50-51 are beyond the page's cap: $(grep -o 'id="notice"[^<]*' "$SCRATCH/small-dom.out")"

# --------------------------------------------- two runs, default window ---
"$REPORT_BIN" "$BASE_LOGS" "$C10_LOGS" -o "$SCRATCH/two.html" >"$SCRATCH/two.out" ||
  fail "chunkex-report of two runs failed: $(cat "$SCRATCH/two.out")"
assert_self_contained "$SCRATCH/two.html"
browse two-dom "$SCRATCH/two.html" --dump-dom
cp "$SCRATCH/two-dom.out" "$SCRATCH/two.dom"
[[ $(dom_attribute "$SCRATCH/two.dom" data-status) == ok ]] || fail "the two-run page did not finish drawing"
# The default window: rounds 0-2 and the last (60), with what comes before
# round 0 (4 ANNOUNCE, a ROSTER to each of 4 peers) and after the last round
# (4 DONE, a FINAL to each of 4 peers).
want=$(($(messages_in_rounds "$BASE_LOGS" 0 2) + $(messages_in_rounds "$BASE_LOGS" 60 60) + 16))
for run in 0 1; do
  drawn=$(grep -o "class=\"msg[^\"]*\" data-view=\"main\" data-run=\"$run\"" "$SCRATCH/two.dom" | wc -l)
  ((drawn == want)) || fail "run $run, default window: $drawn arrows drawn, the logs hold $want messages"
done
assert_contains "$SCRATCH/two.dom" "The first round that differs: round 0"
assert_contains "$SCRATCH/two.dom" "How the runs differ"
assert_contains "$SCRATCH/two.dom" "round 0: clock A +0.9 B +0.9 C +2.9 D +0.9"
for run in 0 1; do
  drawn=$(grep -o "class=\"msg[^\"]*\" data-view=\"divergence\" data-run=\"$run\"" "$SCRATCH/two.dom" | wc -l)
  want=$(($(messages_in_rounds "$BASE_LOGS" 0 0) + 8))
  ((drawn == want)) || fail "run $run, first differing round: $drawn arrows, expected $want"
  # C's CHUNK_DATA is the first message that differs; nothing before round 0 does.
  grep -q "class=\"msg differs\" data-view=\"divergence\" data-run=\"$run\" data-type=\"CHUNK_DATA\" data-line=\"[0-9.]* \[C\] CHUNK_DATA chunk 0 to B" "$SCRATCH/two.dom" ||
    fail "run $run: C's CHUNK_DATA of round 0 is not marked as differing"
  if grep -q "class=\"msg differs\" data-view=\"divergence\" data-run=\"$run\" data-type=\"\(ANNOUNCE\|ROSTER\)\"" "$SCRATCH/two.dom"; then
    fail "run $run: a message before round 0 is marked as differing, but the runs start alike"
  fi
done
note "two runs: ready $(dom_attribute "$SCRATCH/two.dom" data-ready-ms) ms after navigation"

browse two-shot "$SCRATCH/two.html" --window-size=1500,2400 --screenshot="$SCRATCH/report.png"
[[ $(size_of "$SCRATCH/report.png") -gt 20000 ]] || fail "the screenshot $SCRATCH/report.png is nearly empty"
note "screenshot: $SCRATCH/report.png"

# ------------------------------------------------------------- errors ---
if "$REPORT_BIN" "$BASE_LOGS" >"$SCRATCH/err1.out" 2>&1; then fail "chunkex-report without -o or --shiviz succeeded"; fi
assert_contains "$SCRATCH/err1.out" "-o FILE.html and/or --shiviz FILE"
if "$REPORT_BIN" "$BASE_LOGS" -o "$SCRATCH/x.html" --rounds 9-3 >"$SCRATCH/err2.out" 2>&1; then
  fail "chunkex-report --rounds 9-3 succeeded"
fi
assert_contains "$SCRATCH/err2.out" "--rounds: '9-3' is not FROM-TO"
if "$REPORT_BIN" "$SCRATCH/nowhere" -o "$SCRATCH/x.html" >"$SCRATCH/err3.out" 2>&1; then
  fail "chunkex-report of a missing directory succeeded"
fi
assert_contains "$SCRATCH/err3.out" "$SCRATCH/nowhere: no such file or directory"
note "ok"
