#!/usr/bin/env bash
# The Debian package made from this build (cpack): its files, its
# dependencies (runtime libraries only, never a -dev package), its conffile,
# its maintainer scripts, the systemd unit (`systemd-analyze verify` where
# systemd's tools are installed, and the settings the VM way relies on), and
# that the packaged server starts with the packaged config exactly as the
# unit starts it. Nothing is installed on the machine: the .deb is unpacked
# into the scratch directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$_LIB_DIR/package_lib.sh"

build_package

# ------------------------------------------------------------- contents ---
dpkg-deb -c "$DEB" | awk '{ print $NF }' | sed 's|^\./|/|' | grep -v '/$' | sort >"$SCRATCH/files.txt"
expected=$(printf '%s\n' /etc/chunkex/chunkex.json "$UNIT" /usr/bin/chunkex-client \
  /usr/bin/chunkex-diff /usr/bin/chunkex-gen /usr/bin/chunkex-report /usr/bin/chunkex-server \
  /usr/bin/chunkex-sim /usr/share/doc/chunkex/README.md | sort)
[[ $(cat "$SCRATCH/files.txt") == "$expected" ]] ||
  fail "the package holds other files than expected:
$(diff <(echo "$expected") "$SCRATCH/files.txt")"
cmp -s "$CHUNKEX_SOURCE_DIR/configs/default.json" "$PKG_ROOT/etc/chunkex/chunkex.json" ||
  fail "/etc/chunkex/chunkex.json is not configs/default.json"

# -------------------------------------------------------------- control ---
depends=$(dpkg-deb -f "$DEB" Depends)
for library in libc6 libfmt9 libssl3 libstdc++6; do
  [[ $depends == *"$library "* || $depends == *"$library," || $depends == *"$library" ]] ||
    fail "Depends lacks $library: $depends"
done
if grep -qE -- '-dev([ ,]|$)' <<<"$depends"; then fail "a -dev package in Depends: $depends"; fi
[[ $(dpkg-deb -f "$DEB" Package) == chunkex ]] || fail "the package is not named chunkex"
[[ $(basename "$DEB") == "chunkex_$(dpkg-deb -f "$DEB" Version)_amd64.deb" ]] ||
  fail "file name $(basename "$DEB") is not chunkex_<version>_amd64.deb"
dpkg-deb -e "$DEB" "$SCRATCH/control"
[[ $(cat "$SCRATCH/control/conffiles") == /etc/chunkex/chunkex.json ]] ||
  fail "conffiles is '$(cat "$SCRATCH/control/conffiles")', expected /etc/chunkex/chunkex.json"
for script in postinst prerm postrm; do
  [[ -x $SCRATCH/control/$script ]] || fail "no executable $script in the package"
  sh -n "$SCRATCH/control/$script" || fail "$script is not valid sh"
done
assert_contains "$SCRATCH/control/postinst" "adduser --quiet --system --group"
assert_contains "$SCRATCH/control/postinst" "umask 077"

# ----------------------------------------------------------------- unit ---
for setting in User=chunkex StateDirectory=chunkex EnvironmentFile=/etc/chunkex/token.env \
  Restart=on-failure SuccessExitStatus=143 NoNewPrivileges=yes ProtectSystem=strict \
  ProtectHome=yes PrivateTmp=yes CapabilityBoundingSet= WantedBy=multi-user.target; do
  grep -qx -- "$setting" "$PKG_ROOT$UNIT" || fail "the unit lacks the line $setting"
done
unit_command "$SCRATCH/state"
[[ ${UNIT_COMMAND[*]} == "$PKG_ROOT/usr/bin/chunkex-server --config $PKG_ROOT/etc/chunkex/chunkex.json --host 0.0.0.0 --log-dir $SCRATCH/state" ]] ||
  fail "unexpected ExecStart: $(unit_value ExecStart)"

if command -v systemd-analyze >/dev/null 2>&1; then
  # The machine's own units beside the package's (sysinit.target and the rest
  # every service depends on). verify only warns about unknown keys and bad
  # values, still exiting 0: any output is a failure.
  mkdir -p "$PKG_ROOT/usr/lib/systemd/system"
  for dir in /lib/systemd/system /usr/lib/systemd/system; do
    [[ -d $dir ]] && cp -rn "$dir/." "$PKG_ROOT/usr/lib/systemd/system/"
  done
  status=0
  verify=$(systemd-analyze verify --root="$PKG_ROOT" "$UNIT" 2>&1) || status=$?
  [[ $status == 0 && -z $verify ]] || fail "systemd-analyze verify $UNIT (exit $status): $verify"
  note "systemd-analyze verify: passed"
else
  note "systemd-analyze is not installed (Debian package systemd): unit not verified"
fi

# ------------------------------------------- the server as the unit runs it ---
# Its command line with the address moved to loopback and a free port (the
# test must not open a port on the machine's interfaces), so that the config
# the package installs is checked by the server the package installs.
mkdir -p "$SCRATCH/state"
command=("${UNIT_COMMAND[@]}")
for i in "${!command[@]}"; do [[ ${command[i]} == 0.0.0.0 ]] && command[i]=127.0.0.1; done
CHUNKEX_TOKEN=package-secret start_bg packaged-server "${command[@]}" --port 0
wait_for_text "$SCRATCH/packaged-server.out" "waiting for 4 clients (token required)" 10 "$LAST_PID"
assert_contains "$SCRATCH/packaged-server.out" "listening on 127.0.0.1:"
kill -TERM "$LAST_PID"
expect_exit packaged-server 143 10
assert_exists "$SCRATCH/state/Server.txt"
[[ ! -s $SCRATCH/packaged-server.err ]] || assert_not_contains "$SCRATCH/packaged-server.err" "invalid configuration"
note "$(basename "$DEB"): $(wc -l <"$SCRATCH/files.txt") files; Depends: $depends"
