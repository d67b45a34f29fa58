#!/usr/bin/env bash
# Across hosts on one machine: the server, installed from the Debian package,
# runs in a network namespace "vm" and four clients each in a namespace of its
# own ("laptops"), joined to the vm by veth links. The vm has the address
# 203.0.113.1 and the laptops 198.51.100.11-14 (documentation ranges, each
# link point-to-point; no namespace has any other route). Each laptop reaches
# the vm through the WAN link emulator (bench/wan_proxy.cpp: one-way delay and
# a rate cap per direction, run in the laptop's namespace like a slow uplink):
# client -> 127.0.0.1 (emulator) -> 203.0.113.1:9999 (vm).
#
# The server runs exactly the unit's ExecStart (--config /etc/chunkex/...
# --host 0.0.0.0 --log-dir /var/lib/chunkex) with the package's binary and
# config moved under the scratch root where the .deb was unpacked, and a token
# in CHUNKEX_TOKEN, as the unit's EnvironmentFile gives it. All 12 files must
# be verified and every log byte-identical to a loopback run on the same files.
#
# Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) for `ip netns`; where namespaces
# are refused the test is skipped (exit 77) with the reason. It removes every
# namespace it made (which removes their veth links) and stops every process
# it started, by PID, whatever happens.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$_LIB_DIR/package_lib.sh"

IDS=(A B C D)
CHUNKS=40
DELAY_MS=5
RATE_MBIT=100
VM_ADDR=203.0.113.1
TOKEN=cross-host-secret
NS_PREFIX=cx$$
NS_VM=$NS_PREFIX-vm
declare -a MADE_NAMESPACES=()

skip() {
  echo "SKIP [$TEST_NAME]: $*"
  exit 77
}

# ------------------------------------------------------------- teardown ---

# remove_namespaces: stops every process this test started (some run inside
# the namespaces), then deletes each namespace it made; a namespace's veth
# ends go with it, and so do the links.
remove_namespaces() {
  local pid ns
  for pid in "${BG_PIDS[@]}"; do _stop_pid "$pid"; done
  for ns in "${MADE_NAMESPACES[@]}"; do
    ip netns delete "$ns" 2>/dev/null ||
      echo "[$TEST_NAME] cleanup: could not delete network namespace $ns" >&2
  done
  MADE_NAMESPACES=()
}

_cross_host_exit() {
  local rc=$?
  [[ $BASHPID == "$$" ]] || exit "$rc"
  set +e
  remove_namespaces
  if ((rc == 77)); then
    trap - EXIT
    exit 77
  fi
  (exit "$rc")
  _cleanup
}
trap _cross_host_exit EXIT

# ------------------------------------------------- may this machine do it? ---

command -v ip >/dev/null 2>&1 || skip "iproute2's ip is not installed (scripts/deps.sh installs it)"
# A namespace of our own, kept as the vm's: if this is refused (not root, or a
# container without CAP_SYS_ADMIN), nothing else could work.
if ! err=$(ip netns add "$NS_VM" 2>&1); then
  skip "network namespaces are not permitted here ('ip netns add' said: $err)"
fi
MADE_NAMESPACES+=("$NS_VM")
if ! err=$(ip -n "$NS_VM" link add probe0 type veth peer name probe1 2>&1); then
  skip "veth links are not permitted here ('ip link add type veth' said: $err)"
fi
ip -n "$NS_VM" link delete probe0

# ------------------------------------------------------- the package ---

build_package
unit_command "$SCRATCH/vm-state"
[[ " ${UNIT_COMMAND[*]} " == *" --host 0.0.0.0 "* ]] ||
  fail "the unit's ExecStart does not listen on 0.0.0.0: ${UNIT_COMMAND[*]}"
# Every program from the package: the server the unit starts, and the client
# and generator beside it.
SERVER_BIN=${UNIT_COMMAND[0]}
CLIENT_BIN=$(dirname "$SERVER_BIN")/chunkex-client
GEN_BIN=$(dirname "$SERVER_BIN")/chunkex-gen
PROXY_BIN=$CHUNKEX_BUILD_DIR/bench/chunkex-wan-proxy
for bin in "$SERVER_BIN" "$CLIENT_BIN" "$GEN_BIN"; do
  [[ -x $bin ]] || fail "the package holds no ${bin#"$PKG_ROOT"}"
done
[[ -x $PROXY_BIN ]] || fail "$PROXY_BIN not built (target chunkex-wan-proxy)"
CONFIG=""
for ((i = 1; i < ${#UNIT_COMMAND[@]}; i++)); do
  [[ ${UNIT_COMMAND[i - 1]} == --config ]] && CONFIG=${UNIT_COMMAND[i]}
done
[[ -f $CONFIG ]] || fail "the unit's ExecStart names no --config file of the package"
VM_PORT=$(sed -n 's/^ *"port": *\([0-9]*\).*/\1/p' "$CONFIG")
[[ $VM_PORT =~ ^[0-9]+$ ]] || fail "no port in $CONFIG"

DATA=$SCRATCH/data
"$GEN_BIN" --data-dir "$DATA" --chunks "$CHUNKS" --seed 12 >/dev/null
FILE_BYTES=$(size_of "$DATA/A.file")
remove_on_success "$DATA"

# ------------------------------------------------- the loopback reference ---

CHUNKEX_TOKEN=$TOKEN run_reference_exchange "$DATA" "$CONFIG"
remove_on_success "$SCRATCH/ref/out"

# ------------------------------------------------------- the network ---

ip -n "$NS_VM" link set lo up
for i in 1 2 3 4; do
  ns=$NS_PREFIX-laptop$i
  laptop_addr=198.51.100.1$i
  ip netns add "$ns"
  MADE_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  # One link per laptop, made inside the two namespaces: nothing appears in
  # the machine's own namespace, even for a moment.
  ip -n "$NS_VM" link add "to-laptop$i" type veth peer name uplink netns "$ns"
  ip -n "$NS_VM" addr add "$VM_ADDR/32" peer "$laptop_addr/32" dev "to-laptop$i"
  ip -n "$ns" addr add "$laptop_addr/32" peer "$VM_ADDR/32" dev uplink
  ip -n "$NS_VM" link set "to-laptop$i" up
  ip -n "$ns" link set uplink up
done
note "namespaces: ${MADE_NAMESPACES[*]}; vm $VM_ADDR, laptops 198.51.100.11-14"

# ---------------------------------------------------------- the run ---

WAN=$SCRATCH/wan
mkdir -p "$SCRATCH/vm-state" "$WAN"
remove_on_success "$WAN/out"
CHUNKEX_TOKEN=$TOKEN start_bg vm-server ip netns exec "$NS_VM" "${UNIT_COMMAND[@]}"
VM_SERVER=$LAST_PID
wait_for_text "$SCRATCH/vm-server.out" "listening on 0.0.0.0:$VM_PORT" 10 "$VM_SERVER"
assert_contains "$SCRATCH/vm-server.out" "token required"

for i in 1 2 3 4; do
  id=${IDS[i - 1]}
  ns=$NS_PREFIX-laptop$i
  start_bg "wan-$id" ip netns exec "$ns" "$PROXY_BIN" --listen-host 127.0.0.1 --listen-port 0 \
    --port-file "$WAN/proxy$id.port" --stats-file "$WAN/proxy$id.json" \
    --upstream-host "$VM_ADDR" --upstream-port "$VM_PORT" --delay-ms "$DELAY_MS" \
    --rate-mbit "$RATE_MBIT" --exit-after-connections 1
  deadline_in 10
  until [[ -s $WAN/proxy$id.port ]]; do
    pid_alive "${PID_OF[wan-$id]}" || fail "the WAN emulator of laptop $i ended$(_tail_hint "wan-$id")"
    past_deadline && fail "the WAN emulator of laptop $i wrote no port within 10 s"
    sleep 0.02
  done
  CHUNKEX_TOKEN=$TOKEN start_bg "laptop-$id" ip netns exec "$ns" "$CLIENT_BIN" \
    --host 127.0.0.1 --port "$(cat "$WAN/proxy$id.port")" \
    --data-dir "$DATA" --out-dir "$WAN/out" --log-dir "$WAN/logs"
  wait_for_text "$SCRATCH/vm-server.out" "[server] client $id joined" 10 "$VM_SERVER" "$LAST_PID"
done

# Every peer's connection reached the vm from its laptop's own address.
ip netns exec "$NS_VM" ss -Htn state established "( sport = :$VM_PORT )" >"$SCRATCH/vm-sockets.txt"
for i in 1 2 3 4; do
  grep -qE "$VM_ADDR:$VM_PORT +198\.51\.100\.1$i:[0-9]+" "$SCRATCH/vm-sockets.txt" ||
    fail "no connection from laptop $i (198.51.100.1$i) at the vm: $(cat "$SCRATCH/vm-sockets.txt")"
done

for id in "${IDS[@]}"; do expect_exit "laptop-$id" 0 90; done
expect_exit vm-server 0 15
for id in "${IDS[@]}"; do expect_exit "wan-$id" 0 15; done

# ------------------------------------------------------- the checks ---

STATE=$SCRATCH/vm-state
assert_all_received "$DATA" "$WAN/out" "$STATE"
assert_absent "$STATE/exchange.state" "removed once the exchange completed"
for name in Server.txt ClientA.txt ClientB.txt ClientC.txt ClientD.txt; do
  log=$WAN/logs/$name
  [[ $name == Server.txt ]] && log=$STATE/$name
  assert_same_file "$SCRATCH/ref/logs/$name" "$log"
done
for id in "${IDS[@]}"; do
  # Each peer sends its own file to three others and receives three files.
  # (The emulator's report is one line of JSON: read without the JSON helpers.)
  up=$(grep -o '"up_bytes_max":[0-9]*' "$WAN/proxy$id.json" | cut -d: -f2)
  down=$(grep -o '"down_bytes_max":[0-9]*' "$WAN/proxy$id.json" | cut -d: -f2)
  ((${up:-0} >= 3 * FILE_BYTES)) || fail "laptop $id sent only ${up:-0} bytes through its WAN link"
  ((${down:-0} >= 3 * FILE_BYTES)) || fail "laptop $id received only ${down:-0} bytes through its WAN link"
done
json_value "$STATE/summary.json" wall_seconds
wall=$REPLY

remove_namespaces
for ns in $(ip netns list | cut -d' ' -f1); do
  [[ $ns != "$NS_PREFIX"-* ]] || fail "network namespace $ns is still there after the teardown"
done
note "4 x $CHUNKS chunks across 5 namespaces through ${DELAY_MS} ms + ${RATE_MBIT} Mbit/s links" \
  "in ${wall} s: 12 files verified, logs identical to loopback; namespaces removed"
