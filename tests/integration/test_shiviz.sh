#!/usr/bin/env bash
# chunkex-report --shiviz on two real runs: the file is what ShiViz parses
# (first line the event regex, second the execution delimiter, then per
# event its line and "host {vector clock}"), and the vector clocks are right:
# every event matches the regex, each host's own entry rises by exactly 1
# from 1, a receive's clock dominates its send's (the pairs found here from
# the log text alone), and no clock names a host that never appears.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$_LIB_DIR/runs.sh"

if ! command -v python3 >/dev/null; then
  echo "[shiviz] python3 is missing: installing it (apt-get)"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo -n"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 >/dev/null ||
    fail "python3 is needed to check the ShiViz file and could not be installed"
fi

make_two_runs 20

"$REPORT_BIN" --shiviz "$SCRATCH/two.shiviz" "$BASE_LOGS" "$C10_LOGS" --rounds 0-3,last \
  >"$SCRATCH/report.out" 2>"$SCRATCH/report.err" || fail "chunkex-report --shiviz failed: $(cat "$SCRATCH/report.err")"
assert_contains "$SCRATCH/report.out" "ShiViz log written to $SCRATCH/two.shiviz"
"$REPORT_BIN" --shiviz "$SCRATCH/one.shiviz" "$BASE_LOGS" --rounds 7-9 >/dev/null ||
  fail "chunkex-report --shiviz on one run failed"

# check_shiviz FILE EXECUTIONS ROUNDS...: the checks above; ROUNDS are the
# rounds each execution must hold.
check_shiviz() {
  python3 - "$@" <<'EOF'
import json, re, sys

path, executions_expected, rounds_expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read()
regex_line, delimiter_line, log = text.split("\n", 2)
# ShiViz anchors both with ^...$ (multiline) and uses JavaScript's (?<name>...).
to_python = lambda r: re.sub(r"\(\?<(\w+)>", r"(?P<\1>", r)
event_re = re.compile("^" + to_python(regex_line) + "$", re.M)
delimiter_re = re.compile("^" + to_python(delimiter_line) + "$", re.M)
assert {"event", "host", "clock", "sim_ms"} <= set(event_re.groupindex), event_re.groupindex
assert "trace" in delimiter_re.groupindex

labels = [m.group("trace") for m in delimiter_re.finditer(log)]
parts = delimiter_re.split(log)  # text, then each delimiter's groups and the text after it
assert parts[0].strip() == "", "text before the first execution"
step = delimiter_re.groups + 1
bodies = parts[step::step]
assert len(labels) == executions_expected == len(bodies), (labels, len(bodies))
assert len(set(labels)) == len(labels), "execution labels must differ"

def pairs(events, hosts):
    """(send index, receive index) of messages found from the log text alone."""
    by_text = {}
    for i, e in enumerate(events):
        by_text.setdefault((e["host"], e["text"]), []).append(i)
    def find(host, pattern):
        for (h, t), idx in by_text.items():
            if h == host and re.fullmatch(pattern, t):
                yield idx[0]
    found = []
    for i, e in enumerate(events):
        t, host = e["text"], e["host"]
        if host == "Server":
            m = re.fullmatch(r"REQUEST_CHUNK (\w) asks (\w) for chunk (\d+) \(round (\d+)\)", t)
            if m:
                q, tg, c, r = m.groups()
                found += [(s, i) for s in find(q, rf"REQUEST_CHUNK chunk {c} of {tg} \(round {r}\)")]
            m = re.fullmatch(r"forward REQUEST_CHUNK (\w) -> (\w): chunk (\d+) \(round (\d+)\)", t)
            if m:
                q, tg, c, r = m.groups()
                found += [(i, s) for s in find(tg, rf"forwarded REQUEST_CHUNK from {q}: chunk {c} \(round {r}\)")]
            m = re.fullmatch(r"CHUNK_DATA (\w) -> (\w): chunk (\d+) of \w \(round (\d+)\)", t)
            if m:
                tg, q, c, r = m.groups()
                found += [(s, i) for s in find(tg, rf"CHUNK_DATA chunk {c} to {q} \(round {r}\)")]
            m = re.fullmatch(r"SEND_CHUNK (\w) -> (\w): chunk (\d+) of \w \(round (\d+)\)", t)
            if m:
                tg, q, c, r = m.groups()
                found += [(i, s) for s in find(q, rf"recv chunk {c} of {tg} \(round {r}\)")]
            m = re.fullmatch(r"IDLE (\w) \(round (\d+)\)", t)
            if m:
                q, r = m.groups()
                found += [(s, i) for s in find(q, rf"IDLE \(round {r}\)")]
            m = re.fullmatch(r"DONE (\w): .*", t)
            if m:
                found += [(s, i) for s in find(m.group(1), r"DONE: .*")]
            if t.startswith("final clocks "):
                found += [(i, s) for peer in hosts - {"Server"} for s in find(peer, re.escape(t))]
    return found

for label, body in zip(labels, bodies):
    lines = [l for l in body.split("\n") if l]
    matches = list(event_re.finditer(body))
    assert len(matches) * 2 == len(lines), f"{label}: {len(lines)} lines, {len(matches)} events match the regex"
    events = []
    for m in matches:
        clock = json.loads(m.group("clock"))
        line = m.group(0).split("\n")[0]
        assert line.startswith(m.group("sim_ms") + " [" + m.group("host") + "] "), line
        events.append({"host": m.group("host"), "clock": clock, "line": line,
                       "text": line.split("] ", 1)[1]})
    hosts = {e["host"] for e in events}
    own = {}
    for e in events:
        own[e["host"]] = own.get(e["host"], 0) + 1
        assert e["clock"].get(e["host"]) == own[e["host"]], \
            f"{label}: {e['host']}'s own entry is {e['clock'].get(e['host'])}, expected {own[e['host']]}: {e['line']}"
        assert set(e["clock"]) <= hosts, f"{label}: unknown host in {e['clock']}"
        assert all(v >= 1 for v in e["clock"].values()), e["clock"]
    found = pairs(events, hosts)
    assert found, f"{label}: no messages found"
    for s, r in found:
        cs, cr = events[s]["clock"], events[r]["clock"]
        assert all(cr.get(h, 0) >= v for h, v in cs.items()), \
            f"{label}: receive {events[r]['line']} {cr} does not dominate send {events[s]['line']} {cs}"
    rounds = {int(x) for x in re.findall(r"\(round (\d+)\)$", "\n".join(e["line"] for e in events), re.M)}
    want = set()
    for part in rounds_expected.split(","):
        a, _, b = part.partition("-")
        want |= set(range(int(a), int(b or a) + 1))
    assert rounds == want, f"{label}: rounds {sorted(rounds)}, expected {sorted(want)}"
    print(f"{label}: {len(events)} events, {len(hosts)} hosts, {len(found)} send/receive pairs checked")
EOF
}

check_shiviz "$SCRATCH/two.shiviz" 2 0-3,60 || fail "two.shiviz is not a valid ShiViz log (above)"
check_shiviz "$SCRATCH/one.shiviz" 1 7-9 || fail "one.shiviz is not a valid ShiViz log (above)"
head -n 2 "$SCRATCH/two.shiviz" | grep -qxF '=== (?<trace>.*) ===' || fail "second line is not the delimiter"
note "ok: $SCRATCH/two.shiviz"
